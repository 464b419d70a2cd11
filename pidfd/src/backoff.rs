//! [`Backoff`]: the one sleep schedule of a wait that has to ask again instead of waiting for
//! a wake-up (an exit someone else is collecting, a zombie a tracer holds, a stop that wakes
//! no poll). It starts at 1 ms and doubles up to a ceiling, so a short hold costs one short
//! sleep and a long one costs no CPU.

use std::time::Duration;

/// The first sleep.
const FIRST: Duration = Duration::from_millis(1);

/// A sleep that starts at 1 ms and doubles up to its ceiling.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Waiting for an exit to become collectable (someone else is collecting it, or a tracer
    /// holds the zombie): up to 50 ms, so a hold of any length costs at most 20 looks a second.
    pub(crate) const fn exit() -> Backoff {
        Backoff { next: FIRST, max: Duration::from_millis(50) }
    }

    /// Waiting for a stop or a continue by asking (no wake-up comes for them): up to 10 ms,
    /// so the event is seen at most 10 ms late.
    pub(crate) const fn state_change() -> Backoff {
        Backoff { next: FIRST, max: Duration::from_millis(10) }
    }

    /// The next sleep, in milliseconds (an `epoll_wait` or `poll` timeout).
    pub(crate) fn next_ms(&self) -> i32 {
        self.next.as_millis() as i32
    }

    /// Sleeps for the next sleep, then doubles it (up to the ceiling).
    pub(crate) fn sleep(&mut self) {
        std::thread::sleep(self.next);
        self.grow();
    }

    /// Doubles the next sleep, up to the ceiling.
    pub(crate) fn grow(&mut self) {
        self.next = (self.next * 2).min(self.max);
    }

    /// Back to the first sleep.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn it_starts_at_one_millisecond_and_doubles_up_to_its_ceiling() {
        let mut b = Backoff::exit();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(b.next_ms());
            b.grow();
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 50, 50]);
        b.reset();
        assert_eq!(b.next_ms(), 1);
        let mut s = Backoff::state_change();
        for _ in 0..5 {
            s.grow();
        }
        assert_eq!(s.next_ms(), 10);
    }
}
