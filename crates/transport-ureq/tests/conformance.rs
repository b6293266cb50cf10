//! The workspace's transport conformance suite (`transport-conformance`), run against the
//! blocking transport and the local Messages server over real sockets.

transport_conformance::conformance_suite!(transport_conformance::runners::Blocking);
