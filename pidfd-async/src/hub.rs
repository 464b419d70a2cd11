//! The hub: one epoll instance per runtime that holds the pidfd of every [`AsyncPidFd`]
//! (crate::AsyncPidFd), registered once with tokio's reactor.
//!
//! Registering each pidfd with tokio would cost a reactor entry per process (tokio allocates a
//! cache-line aligned `ScheduledIo` for each) and an `epoll_ctl(DEL)` when the pidfd goes (tokio
//! deregisters explicitly). Here a pidfd is added to the hub's own epoll instance once
//! (edge-triggered, data = its slot and the slot's generation) and leaves it by being closed,
//! which the kernel handles as part of `close`. When tokio reports the hub's epoll readable, the
//! hub's waker drains it with non-blocking `epoll_wait`s (up to [`BATCH`] events each): each
//! event bumps its slot's tick and wakes the tasks waiting on that slot. No task and no thread
//! of its own; O(1) work per event.
//!
//! The hub's waker runs wherever tokio wakes it: in the reactor's turn (after tokio has released
//! its own locks), or at the runtime's shutdown, when the hub fails: every waiting task is
//! woken and gets the error. A failed hub leaves the registry; the next `AsyncPidFd` of a
//! runtime (a new one) gets a new hub.
//!
//! Waiting is by tick: a task reads its slot's tick, looks at the process, and if there is
//! nothing to collect waits until the tick moves. An event between the look and the wait has
//! moved the tick already, so no wake-up is lost.

use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::BorrowedFd;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;

use crate::slots::{Key, Slots};
use crate::sys::{self, Epoll, Event};

/// How many events one non-blocking `epoll_wait` on the hub collects.
const BATCH: usize = 256;

/// One runtime's hub.
pub(crate) struct Hub {
    epoll: AsyncFd<Epoll>,
    state: Mutex<State>,
    /// Drains the hub when tokio reports it readable; holds the hub weakly.
    waker: Waker,
    /// The runtime's id, to leave the registry by.
    runtime: u64,
}

struct State {
    entries: Slots<Entry>,
    /// Set once the reactor failed (the runtime is shutting down): every wait ends with it.
    failed: Option<(io::ErrorKind, String)>,
    /// The id of the next wait to register.
    next_waiter: u64,
    events: Box<[Event]>,
}

/// One pidfd's place in the hub.
#[derive(Default)]
struct Entry {
    /// Bumped by each event of the pidfd.
    tick: u32,
    /// The waits pending until the tick moves (several tasks may wait on one `AsyncPidFd`);
    /// one inline, so the common single wait allocates nothing. A wait that is dropped takes
    /// itself out ([`Hub::forget`]), so cancelled waits do not pile up.
    first: Option<Waiter>,
    more: Vec<Waiter>,
}

struct Waiter {
    id: u64,
    waker: Waker,
}

impl Entry {
    /// Registers wait `id`, or updates its waker.
    fn register(&mut self, id: u64, waker: &Waker) {
        if let Some(w) = self.first.iter_mut().chain(self.more.iter_mut()).find(|w| w.id == id) {
            if !w.waker.will_wake(waker) {
                w.waker = waker.clone();
            }
            return;
        }
        let w = Waiter { id, waker: waker.clone() };
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.more.push(w);
        }
    }

    /// Takes wait `id` out, if it is registered.
    fn unregister(&mut self, id: u64) -> Option<Waker> {
        if self.first.as_ref().is_some_and(|w| w.id == id) {
            return self.first.take().map(|w| w.waker);
        }
        let i = self.more.iter().position(|w| w.id == id)?;
        Some(self.more.swap_remove(i).waker)
    }

    fn take_wakers(&mut self, into: &mut Vec<Waker>) {
        into.extend(self.first.take().map(|w| w.waker));
        into.extend(self.more.drain(..).map(|w| w.waker));
    }
}

/// The hubs of the runtimes that have one, by runtime id. Few runtimes per process: a list.
static HUBS: Mutex<Vec<(u64, Arc<Hub>)>> = Mutex::new(Vec::new());

fn hubs() -> MutexGuard<'static, Vec<(u64, Arc<Hub>)>> {
    HUBS.lock().unwrap_or_else(|p| p.into_inner())
}

struct HubWaker(Weak<Hub>);

impl Wake for HubWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(hub) = self.0.upgrade() {
            hub.drive();
        }
    }
}

impl Hub {
    /// The hub of the runtime of `handle` (the one in context, checked to have an I/O driver),
    /// made and registered with the reactor the first time.
    pub(crate) fn of(handle: &Handle) -> io::Result<Arc<Hub>> {
        let runtime = sys::runtime_id(handle);
        let mut hubs = hubs();
        if let Some((_, hub)) = hubs.iter().find(|(id, _)| *id == runtime) {
            return Ok(Arc::clone(hub));
        }
        let epoll = sys::register(Epoll::new()?).map_err(|(_, e)| e)?;
        let hub = Arc::new_cyclic(|me| Hub {
            epoll,
            state: Mutex::new(State {
                entries: Slots::new(),
                failed: None,
                next_waiter: 0,
                events: sys::event_buffer(BATCH),
            }),
            waker: Waker::from(Arc::new(HubWaker(me.clone()))),
            runtime,
        });
        hubs.push((runtime, Arc::clone(&hub)));
        drop(hubs);
        // Arm: register the hub's waker with the reactor.
        hub.drive();
        Ok(hub)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `fd`, edge-triggered; one `epoll_ctl(ADD)`. A process that has already exited is
    /// reported by the add itself (epoll looks at the current readiness).
    pub(crate) fn insert(&self, fd: BorrowedFd<'_>) -> io::Result<Key> {
        // Under the lock: an event of this fd finds its entry.
        self.state().entries.insert_with(|key| self.epoll.get_ref().add(fd, key.pack()).map(|()| Entry::default()))
    }

    /// Vacates `key`'s entry. The caller closes the fd next, which takes it out of the epoll
    /// instance (a duplicate kept elsewhere keeps it there until closed; its events are stale
    /// by generation).
    pub(crate) fn remove(&self, key: Key) {
        let gone = self.state().entries.remove(key);
        // Dropped outside the lock: dropping a waker may run code that uses the hub.
        drop(gone);
    }

    /// Takes `fd` out of the epoll instance (`epoll_ctl(DEL)`: it lives on elsewhere); its
    /// entry is vacated by [`remove`](Hub::remove).
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) {
        let _ = self.epoll.get_ref().delete(fd);
    }

    /// The entry's tick, at once if `seen` is `None` or the tick has moved past it; otherwise
    /// registers the task under wait id `*waiter` (allotted on the first registration; 0: none
    /// yet) and waits for the next event of the pidfd. An error once the reactor has failed.
    ///
    /// On `Ready` the wait is no longer registered (`*waiter` is 0); a wait dropped while
    /// registered must call [`forget`](Hub::forget).
    pub(crate) fn poll_tick(
        &self,
        key: Key,
        seen: Option<u32>,
        waiter: &mut u64,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<u32>> {
        let mut locked = self.state();
        let st = &mut *locked;
        let failed = st.failed.as_ref().map(|(kind, text)| io::Error::new(*kind, text.clone()));
        let Some(entry) = st.entries.get_mut(key) else {
            return Poll::Ready(Err(io::Error::other("pidfd hub entry missing")));
        };
        if failed.is_some() || seen != Some(entry.tick) {
            // Still registered if the tick has not moved since (a retry without an event).
            let stale = (*waiter != 0).then(|| entry.unregister(std::mem::take(waiter))).flatten();
            let tick = entry.tick;
            drop(locked);
            drop(stale);
            return Poll::Ready(failed.map_or(Ok(tick), Err));
        }
        if *waiter == 0 {
            // From 1: 0 means "not registered".
            st.next_waiter += 1;
            *waiter = st.next_waiter;
        }
        entry.register(*waiter, cx.waker());
        Poll::Pending
    }

    /// Takes out a wait that is dropped while registered.
    pub(crate) fn forget(&self, key: Key, waiter: u64) {
        let stale = {
            let mut st = self.state();
            st.entries.get_mut(key).and_then(|entry| entry.unregister(waiter))
        };
        drop(stale);
    }

    /// Drains the hub while tokio reports it readable, then leaves the hub's waker registered
    /// for the next readiness. Runs in the hub's waker (and once to arm it).
    fn drive(&self) {
        let mut woken = Vec::new();
        loop {
            let mut cx = Context::from_waker(&self.waker);
            // Unconstrained: run inside a task whose cooperative budget is spent (the first
            // `AsyncPidFd` of a runtime arms the hub from its caller's task), tokio would answer
            // "pending" and defer the hub's waker until that task yields; this arms it now.
            let ready = pin!(tokio::task::unconstrained(poll_fn(|cx| self.epoll.poll_read_ready(cx)))).poll(&mut cx);
            let mut guard = match ready {
                // Armed: the waker is registered for the next readiness.
                Poll::Pending => break,
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(e)) => {
                    self.fail(e.kind(), format!("wait for pidfd readiness: {e}"));
                    return;
                }
            };
            let mut locked = self.state();
            let st = &mut *locked;
            let n = match self.epoll.get_ref().wait(&mut st.events, 0) {
                Ok(n) => n,
                Err(e) => {
                    drop(guard);
                    drop(locked);
                    self.fail(e.kind(), format!("epoll_wait on the pidfd hub: {e}"));
                    return;
                }
            };
            for ev in &st.events[..n] {
                // A stale key (an fd closed while a duplicate kept its epoll item) finds nothing.
                if let Some(entry) = st.entries.get_mut(Key::unpack(ev.u64)) {
                    entry.tick = entry.tick.wrapping_add(1);
                    entry.take_wakers(&mut woken);
                }
            }
            // Fewer than asked: drained. An event from here on sets the readiness again (tokio
            // keeps it if one came since the guard was taken).
            if n < BATCH {
                guard.clear_ready();
            }
            // Wake outside the lock: a waker may poll its task right here.
            drop(guard);
            drop(locked);
            for w in woken.drain(..) {
                w.wake();
            }
        }
    }

    /// Records the failure, leaves the registry (a later `AsyncPidFd` of this runtime, or of a
    /// new runtime, gets a new hub), and wakes every waiting task: each finds the error.
    fn fail(&self, kind: io::ErrorKind, text: String) {
        let mut woken = Vec::new();
        {
            let mut st = self.state();
            if st.failed.is_none() {
                st.failed = Some((kind, text));
            }
            for entry in st.entries.values_mut() {
                entry.take_wakers(&mut woken);
            }
        }
        // Dropped outside the registry's lock (this may be the registry's reference; the
        // caller holds another).
        let gone = {
            let mut hubs = hubs();
            let i = hubs.iter().position(|(id, hub)| *id == self.runtime && std::ptr::eq(Arc::as_ptr(hub), self));
            i.map(|i| hubs.swap_remove(i))
        };
        drop(gone);
        for w in woken {
            w.wake();
        }
    }
}
