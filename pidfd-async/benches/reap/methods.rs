//! The methods measured, one function each (see the crate root of this bench).

#[allow(unused_imports)]
use super::*;

/// The raw loops' pidfds (one per child, by index) and how many are still to reap.
struct RawPidfds {
    fds: Vec<Option<OwnedFd>>,
    left: usize,
}

impl RawPidfds {
    /// Opens a pidfd for every child and hands it to `add` with its index.
    fn open(children: &[Child], add: impl Fn(RawFd, u64)) -> RawPidfds {
        let fds: Vec<Option<OwnedFd>> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fd = sys::pidfd_open(c.id() as i32).unwrap();
                add(fd.as_raw_fd(), i as u64);
                Some(fd)
            })
            .collect();
        RawPidfds { left: fds.len(), fds }
    }

    /// Reaps, checks and closes each child of `events` that has exited.
    fn reap(&mut self, row: &mut Row, events: &[libc::epoll_event]) {
        for ev in events {
            let i = ev.u64 as usize;
            let Some(fd) = self.fds[i].as_ref() else { continue };
            if let Some((code, si_code)) = sys::waitid_pidfd_nohang(fd.as_raw_fd()).unwrap() {
                row.resolved[i] = sys::now_ns();
                assert!(si_code == sys::CLD_EXITED && code == (i % 256) as i32, "child {i}: {si_code} {code}");
                self.fds[i] = None;
                self.left -= 1;
            }
        }
    }
}

pub(crate) fn floor(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let ep = sys::Epoll::new().unwrap();
    let mut pidfds = RawPidfds::open(&children, |fd, i| ep.add(fd, i).unwrap());
    row.pending();
    row.release();
    let mut events = sys::event_buffer(256);
    while pidfds.left > 0 {
        let k = ep.wait(&mut events).unwrap();
        pidfds.reap(row, &events[..k]);
    }
    row.done();
    drop(children);
}

/// The floor's loop behind one more epoll level: the pidfds in an inner instance
/// (edge-triggered, as this crate's), the inner instance in an outer one (edge-triggered, as in
/// tokio's reactor); a blocking `epoll_wait` on the outer, then non-blocking ones on the inner
/// until it is drained. A reaper on tokio's public API either sits behind such a level (one
/// more `epoll_wait` per wake-up, and the kernel polls each ready pidfd once per level) or
/// puts each pidfd in tokio's instance (an `epoll_ctl(DEL)` per child, as tokio::process):
/// this row is the part of the gap to the floor that is not user-space work.
pub(crate) fn nested(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let outer = sys::Epoll::new().unwrap();
    let inner = sys::Epoll::new().unwrap();
    outer.add_edge(inner.fd(), 0).unwrap();
    let mut pidfds = RawPidfds::open(&children, |fd, i| inner.add_edge(fd, i).unwrap());
    row.pending();
    row.release();
    let mut one = sys::event_buffer(1);
    let mut events = sys::event_buffer(256);
    while pidfds.left > 0 {
        outer.wait(&mut one).unwrap();
        loop {
            let k = inner.wait_now(&mut events).unwrap();
            pidfds.reap(row, &events[..k]);
            if k < events.len() {
                break;
            }
        }
    }
    row.done();
    drop(children);
}

/// One task per child, spawned as each child's future is made (never collected first: the
/// peak memory counts each future once), and a way to wait until every one has polled its wait.
struct Tasks {
    started: Arc<AtomicUsize>,
    handles: Vec<tokio::task::JoinHandle<(usize, u64, ExitStatus)>>,
}

impl Tasks {
    fn new(n: usize) -> Tasks {
        Tasks { started: Arc::new(AtomicUsize::new(0)), handles: Vec::with_capacity(n) }
    }

    /// Spawns `f` (in the runtime in context).
    fn spawn<F>(&mut self, f: F)
    where
        F: std::future::Future<Output = (usize, ExitStatus)> + Send + 'static,
    {
        let handle = self.spawn_handle(f);
        self.handles.push(handle);
    }

    /// Spawns `f` (in the runtime in context) and returns its handle.
    fn spawn_handle<F>(&self, f: F) -> tokio::task::JoinHandle<(usize, u64, ExitStatus)>
    where
        F: std::future::Future<Output = (usize, ExitStatus)> + Send + 'static,
    {
        let started = Arc::clone(&self.started);
        tokio::spawn(async move {
            started.fetch_add(1, Ordering::Relaxed);
            let (i, status) = f.await;
            (i, sys::now_ns(), status)
        })
    }

    /// Yields until every task has started (and so polled its wait once).
    async fn all_started(&self) {
        while self.started.load(Ordering::Relaxed) < self.handles.len() {
            tokio::task::yield_now().await;
        }
    }

    /// Awaits every task and checks its status.
    async fn join(self, row: &mut Row) {
        for h in self.handles {
            let (i, t, status) = h.await.unwrap();
            row.check(i, status);
            row.resolved[i] = t;
        }
    }
}

pub(crate) fn with_tokio(row: &mut Row, rt: &tokio::runtime::Runtime) {
    // tokio registers each child's pidfd inside `spawn`: its task is spawned right away (the
    // handles come back in index order).
    let mut tasks = Tasks::new(row.n);
    tasks.handles = row.spawn_all(|i| {
        let _enter = rt.enter();
        let mut c = tokio::process::Command::from(row.command(i)).spawn().expect("spawn");
        tasks.spawn_handle(async move { (i, c.wait().await.unwrap()) })
    });
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        tasks.all_started().await;
        row.pending();
        row.release();
        tasks.join(row).await;
        row.done();
    });
}

pub(crate) fn asyncpidfd(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let mut tasks = Tasks::new(row.n);
        for (i, c) in children.iter().enumerate() {
            let fd = AsyncPidFd::new(PidFd::from_child(c).unwrap()).unwrap();
            tasks.spawn(async move { (i, fd.wait().await.unwrap()) });
        }
        tasks.all_started().await;
        row.pending();
        row.release();
        tasks.join(row).await;
        row.done();
    });
    drop(children);
}

/// Futures polled from one task, each only when its own waker fired.
struct PollSet<F> {
    futures: Vec<Option<Pin<Box<F>>>>,
    wakers: Vec<Waker>,
    woken: Arc<Woken>,
    batch: Vec<usize>,
    left: usize,
}

/// The indices whose wakers fired since the last look, and the driving task's waker.
#[derive(Default)]
struct Woken(Mutex<(Vec<usize>, Option<Waker>)>);

struct Slot {
    index: usize,
    woken: Arc<Woken>,
}

impl Wake for Slot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut w = self.woken.0.lock().unwrap();
            w.0.push(self.index);
            w.1.take()
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F: Future> PollSet<F> {
    /// Every future, each to be polled once by the first `poll`.
    fn new(futures: Vec<F>) -> PollSet<F> {
        let n = futures.len();
        let woken = Arc::new(Woken::default());
        woken.0.lock().unwrap().0.extend(0..n);
        let wakers = (0..n).map(|index| Waker::from(Arc::new(Slot { index, woken: Arc::clone(&woken) }))).collect();
        PollSet {
            futures: futures.into_iter().map(|f| Some(Box::pin(f))).collect(),
            wakers,
            woken,
            batch: Vec::new(),
            left: n,
        }
    }

    /// Polls the futures whose wakers fired, passing each output to `done`, until none is left
    /// woken: `Ready` once every future has completed.
    fn poll(&mut self, cx: &mut Context<'_>, done: &mut impl FnMut(F::Output)) -> Poll<()> {
        loop {
            std::mem::swap(&mut self.batch, &mut self.woken.0.lock().unwrap().0);
            if self.batch.is_empty() {
                let mut w = self.woken.0.lock().unwrap();
                if w.0.is_empty() {
                    w.1 = Some(cx.waker().clone());
                    return if self.left == 0 { Poll::Ready(()) } else { Poll::Pending };
                }
                continue;
            }
            for i in self.batch.drain(..) {
                let Some(f) = self.futures[i].as_mut() else { continue };
                if let Poll::Ready(out) = f.as_mut().poll(&mut Context::from_waker(&self.wakers[i])) {
                    self.futures[i] = None;
                    self.left -= 1;
                    done(out);
                }
            }
        }
    }
}

pub(crate) fn onetask(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let waits: Vec<_> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fd = AsyncPidFd::new(PidFd::from_child(c).unwrap()).unwrap();
                async move { (i, fd.wait().await.unwrap()) }
            })
            .collect();
        let mut set = PollSet::new(waits);
        // Every wait polled once (and so registered) before the release, as the task rows do.
        let mut early = Vec::new();
        poll_fn(|cx| {
            let _ = set.poll(cx, &mut |out| early.push(out));
            Poll::Ready(())
        })
        .await;
        assert!(early.is_empty(), "a child exited before the release");
        row.pending();
        row.release();
        poll_fn(|cx| set.poll(cx, &mut |(i, status)| row.check(i, status))).await;
        row.done();
    });
    drop(children);
}

pub(crate) fn exitset(row: &mut Row, rt: &tokio::runtime::Runtime) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    rt.block_on(async {
        let mut set = ExitSet::new().unwrap();
        for (i, c) in children.iter().enumerate() {
            set.insert(i, PidFd::from_child(c).unwrap()).unwrap();
        }
        row.pending();
        row.release();
        while let Some((i, status)) = set.next().await {
            row.check(i, status.unwrap());
        }
        row.done();
    });
    drop(children);
}

pub(crate) fn threads(row: &mut Row) {
    let children = row.spawn_std();
    row.spawned();
    row.mark("setup");
    let n = row.n;
    let resolved: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let codes: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(u64::MAX)).collect());
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = children
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let (resolved, codes, started) = (Arc::clone(&resolved), Arc::clone(&codes), Arc::clone(&started));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    started.fetch_add(1, Ordering::Relaxed);
                    let status = c.wait().unwrap();
                    resolved[i].store(sys::now_ns(), Ordering::Relaxed);
                    codes[i].store(status.code().map_or(u64::MAX - 1, |c| c as u64), Ordering::Relaxed);
                })
                .expect("spawn a thread")
        })
        .collect();
    while started.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let the last threads enter their wait.
    std::thread::sleep(Duration::from_millis(20));
    row.pending();
    row.release();
    for h in handles {
        h.join().unwrap();
    }
    row.done();
    for i in 0..n {
        row.resolved[i] = resolved[i].load(Ordering::Relaxed);
        assert_eq!(codes[i].load(Ordering::Relaxed), (i % 256) as u64, "child {i}");
    }
}
