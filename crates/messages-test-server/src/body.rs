//! The response body: the whole of a small answer, or the chunks a producer task sends
//! through a channel of capacity one. It records when the response ended.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::record::Shared;

/// A response body of the test server.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    inner: Inner,
    shared: Arc<Shared>,
    index: usize,
    complete: bool,
    sent: u64,
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Channel(mpsc::Receiver<Bytes>),
}

impl ResponseBody {
    pub(crate) fn full(bytes: Bytes, shared: Arc<Shared>, index: usize) -> Self {
        Self {
            inner: Inner::Full(Some(bytes)),
            shared,
            index,
            complete: false,
            sent: 0,
        }
    }

    pub(crate) fn channel(rx: mpsc::Receiver<Bytes>, shared: Arc<Shared>, index: usize) -> Self {
        Self {
            inner: Inner::Channel(rx),
            shared,
            index,
            complete: false,
            sent: 0,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.shared
            .response_ended(self.index, self.complete, self.sent);
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let next = match &mut this.inner {
            Inner::Full(bytes) => {
                this.complete = true;
                Poll::Ready(bytes.take())
            }
            Inner::Channel(rx) => rx.poll_recv(cx),
        };
        match next {
            Poll::Ready(Some(bytes)) => {
                this.sent += bytes.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(None) => {
                this.complete = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Channel(_) => SizeHint::default(),
        }
    }
}
