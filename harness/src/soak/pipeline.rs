//! The in-process pipeline of the seeds: loader → embedder → writer, each
//! stage on its own thread, joined by bounded channels so nothing piles up
//! in memory by design.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backend::{BackendError, Embedded, Embedder, Pending};
use crate::soak::npy::Sink;
use crate::workload::{Page, Workload};

/// How the pipeline ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEnd {
    /// Still running.
    Running,
    /// A finite workload was exhausted and everything was written.
    Exhausted,
    /// Stopped on request (duration reached, interrupt, fail-fast).
    Stopped,
    /// The workload could not produce a page (bad input): exit code 2.
    WorkloadError(String),
    /// The embedder failed: exit code 3.
    BackendError(String),
    /// The writer failed (disk full...).
    WriterError(String),
}

struct Shared {
    stop: AtomicBool,
    /// Held while a batch is counted, and while `stop` is set by
    /// [`Pipeline::stop`]: once `stop` returns, `items` no longer moves.
    count_gate: std::sync::Mutex<()>,
    items: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
    end: std::sync::Mutex<PipelineEnd>,
}

impl Shared {
    /// Record the first non-normal ending; later ones are consequences.
    fn end(&self, e: PipelineEnd) {
        let mut g = self.end.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(
            *g,
            PipelineEnd::Running | PipelineEnd::Stopped | PipelineEnd::Exhausted
        ) {
            *g = e;
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A running pipeline. Dropping it stops and joins it.
pub struct Pipeline {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    embed: Option<JoinHandle<Box<dyn Embedder>>>,
}

/// Cheap handle to the live item counter, for the sampler thread.
#[derive(Clone)]
pub struct ItemCounter(Arc<Shared>);

impl ItemCounter {
    /// Texts embedded so far.
    pub fn get(&self) -> u64 {
        self.0.items.load(Ordering::Relaxed)
    }
}

impl Pipeline {
    /// Start the three stages. `depth` is the capacity of each channel, in
    /// pages; up to `max_errors` failed requests are tolerated (counted, their
    /// texts skipped) before the run ends with a backend error.
    pub fn start(
        mut workload: Box<dyn Workload>,
        mut embedder: Box<dyn Embedder>,
        mut sink: Box<dyn Sink>,
        depth: usize,
        max_errors: u64,
    ) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            count_gate: std::sync::Mutex::new(()),
            items: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
            end: std::sync::Mutex::new(PipelineEnd::Running),
        });
        let (page_tx, page_rx): (SyncSender<Page>, Receiver<Page>) =
            sync_channel(depth.max(embedder.max_in_flight()).max(1));
        let (vec_tx, vec_rx): (SyncSender<Embedded>, Receiver<Embedded>) =
            sync_channel(depth.max(1));

        let s = shared.clone();
        let loader = std::thread::Builder::new()
            .name("memsoak-loader".into())
            .spawn(move || {
                while !s.stop.load(Ordering::Relaxed) {
                    match workload.next_page() {
                        Ok(Some(p)) => {
                            if page_tx.send(p).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => return s.end(PipelineEnd::WorkloadError(e.to_string())),
                    }
                }
            })
            .expect("spawn loader thread");

        let s = shared.clone();
        let embed = std::thread::Builder::new()
            .name("memsoak-embed".into())
            .spawn(move || {
                let window = embedder.max_in_flight().max(1);
                // Texts per batch submitted and not yet collected, oldest first.
                let mut pending: VecDeque<(usize, Pending)> = VecDeque::with_capacity(window);
                let mut input_open = true;
                'run: loop {
                    // Submit what is waiting, up to the window. Block for a
                    // page only when nothing is in flight: concurrency never
                    // delays a request.
                    while input_open && pending.len() < window {
                        let page = if pending.is_empty() {
                            page_rx.recv().ok()
                        } else {
                            match page_rx.try_recv() {
                                Ok(p) => Some(p),
                                Err(TryRecvError::Empty) => break,
                                Err(TryRecvError::Disconnected) => None,
                            }
                        };
                        let Some(page) = page else {
                            input_open = false;
                            break;
                        };
                        if s.stop.load(Ordering::Relaxed) {
                            break 'run;
                        }
                        if let Some(due) = page.due {
                            due.taken();
                        }
                        pending.push_back((page.texts.len(), embedder.submit(page.texts)));
                    }
                    let full = !input_open || pending.len() >= window;
                    let Some((_, oldest)) = pending.front_mut() else {
                        break;
                    };
                    // NOTE: while the window has room, wait in short slices so
                    // a page that arrives meanwhile is submitted at once; a
                    // full window (always, for in-process backends) just waits.
                    let res = if full {
                        oldest.wait()
                    } else {
                        match oldest.wait_timeout(Duration::from_millis(2)) {
                            Some(r) => r,
                            None => continue,
                        }
                    };
                    let Some((texts, _)) = pending.pop_front() else {
                        break;
                    };
                    match res {
                        Ok(out) => {
                            if out.count() != texts {
                                s.end(PipelineEnd::BackendError(format!(
                                    "backend returned {} vectors for {texts} texts",
                                    out.count(),
                                )));
                                break;
                            }
                            {
                                // NOTE: a batch that comes back after the stop
                                // is neither counted nor written: the last
                                // sample, taken after the stop, counted the
                                // items, and the .npy held one page more.
                                let _gate =
                                    s.count_gate.lock().unwrap_or_else(|p| p.into_inner());
                                if s.stop.load(Ordering::SeqCst) {
                                    break;
                                }
                                s.items.fetch_add(texts as u64, Ordering::SeqCst);
                            }
                            s.batches.fetch_add(1, Ordering::Relaxed);
                            if vec_tx.send(out).is_err() {
                                break;
                            }
                        }
                        Err(BackendError::Request(e)) => {
                            let n = s.errors.fetch_add(1, Ordering::Relaxed) + 1;
                            *s.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(e.clone());
                            if n > max_errors {
                                s.end(PipelineEnd::BackendError(format!(
                                    "{e} ({n} failed request(s), more than --max-errors {max_errors})"
                                )));
                                break;
                            }
                        }
                        Err(e) => {
                            s.end(PipelineEnd::BackendError(e.to_string()));
                            break;
                        }
                    }
                }
                embedder
            })
            .expect("spawn embed thread");

        let s = shared.clone();
        let writer = std::thread::Builder::new()
            .name("memsoak-writer".into())
            .spawn(move || {
                for batch in vec_rx {
                    if let Err(e) = sink.write(&batch) {
                        return s.end(PipelineEnd::WriterError(e.to_string()));
                    }
                }
                if let Err(e) = sink.finish() {
                    return s.end(PipelineEnd::WriterError(e.to_string()));
                }
                let mut g = s.end.lock().unwrap_or_else(|p| p.into_inner());
                if *g == PipelineEnd::Running {
                    *g = if s.stop.load(Ordering::SeqCst) {
                        PipelineEnd::Stopped
                    } else {
                        PipelineEnd::Exhausted
                    };
                }
            })
            .expect("spawn writer thread");

        Pipeline {
            shared,
            threads: vec![loader, writer],
            embed: Some(embed),
        }
    }

    /// A handle to the item counter.
    pub fn counter(&self) -> ItemCounter {
        ItemCounter(self.shared.clone())
    }

    /// Texts embedded so far.
    pub fn items(&self) -> u64 {
        self.shared.items.load(Ordering::Relaxed)
    }

    /// How the pipeline stands (`Running` until every stage has finished or
    /// one failed).
    pub fn state(&self) -> PipelineEnd {
        self.shared
            .end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Failed requests tolerated so far, and the last one's message.
    pub fn errors(&self) -> (u64, Option<String>) {
        (
            self.shared.errors.load(Ordering::Relaxed),
            self.shared
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    /// Ask every stage to stop. From the moment this returns the item count
    /// is final: a page still being embedded is dropped when it comes back,
    /// uncounted and unwritten, so the writer stores exactly the items
    /// counted.
    pub fn stop(&self) {
        let _gate = self
            .shared
            .count_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Stop and wait for every stage; returns how it ended, the items, and
    /// the embedder (for [`Embedder::finish`]; `None` if its thread panicked).
    pub fn join(mut self) -> (PipelineEnd, u64, Option<Box<dyn Embedder>>) {
        self.stop();
        let embedder = self.embed.take().and_then(|h| h.join().ok());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let end = match self.state() {
            PipelineEnd::Running => PipelineEnd::Stopped,
            e => e,
        };
        (end, self.items(), embedder)
    }

    /// Whether the embedding stage has returned (it may be blocked inside a
    /// request to a worker or server).
    pub fn embed_finished(&self) -> bool {
        self.embed.as_ref().is_none_or(|h| h.is_finished())
    }

    /// [`Pipeline::join`], waiting at most `limit` for a request in flight.
    /// An embedding stage still blocked by then (a hung server memsoak does
    /// not own) is left to end with the process, and so are the stages
    /// tied to it: the embedder is then `None`. For interrupts, which
    /// promise a report within 2 s.
    pub fn join_within(mut self, limit: Duration) -> (PipelineEnd, u64, Option<Box<dyn Embedder>>) {
        self.stop();
        let deadline = std::time::Instant::now() + limit;
        while !self.embed_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !self.embed_finished() {
            // NOTE: dropping a JoinHandle detaches its thread.
            self.embed.take();
            self.threads.clear();
            let end = match self.state() {
                PipelineEnd::Running => PipelineEnd::Stopped,
                e => e,
            };
            return (end, self.items(), None);
        }
        self.join()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
        if let Some(h) = self.embed.take() {
            let _ = h.join();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendInfo;
    use crate::backend::synthetic::{SyntheticEmbedder, SyntheticOptions};
    use crate::soak::npy::Discard;
    use crate::workload::VecWorkload;

    fn pages(n: usize) -> Box<dyn Workload> {
        Box::new(VecWorkload::new(
            (0..n)
                .map(|i| Page::new(vec![format!("a{i}"), format!("b{i}")]))
                .collect(),
        ))
    }

    fn wait(p: &Pipeline) {
        for _ in 0..500 {
            if p.state() != PipelineEnd::Running {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("pipeline never finished");
    }

    #[test]
    fn runs_a_finite_workload_to_the_end() {
        let e = SyntheticEmbedder::new(SyntheticOptions {
            dim: 4,
            cost_per_item: Duration::ZERO,
            ..Default::default()
        });
        let p = Pipeline::start(pages(10), Box::new(e), Box::new(Discard), 2, 0);
        wait(&p);
        let (end, items, e) = p.join();
        assert_eq!((end, items), (PipelineEnd::Exhausted, 20));
        assert!(e.is_some());
    }

    struct Failing;
    impl Embedder for Failing {
        fn info(&self) -> BackendInfo {
            BackendInfo::default()
        }
        fn embed(&mut self, _: &[String]) -> Result<Embedded, BackendError> {
            Err(BackendError::failed("worker died"))
        }
    }

    #[test]
    fn backend_failure_ends_the_pipeline() {
        let p = Pipeline::start(pages(10), Box::new(Failing), Box::new(Discard), 2, 0);
        wait(&p);
        let (end, items, _) = p.join();
        assert_eq!(
            (end, items),
            (PipelineEnd::BackendError("worker died".into()), 0)
        );
    }

    #[test]
    fn stop_ends_an_endless_workload() {
        let w = crate::workload::synthetic::SyntheticWorkload::new(Default::default()).unwrap();
        let e = SyntheticEmbedder::new(SyntheticOptions {
            dim: 4,
            cost_per_item: Duration::ZERO,
            ..Default::default()
        });
        let p = Pipeline::start(Box::new(w), Box::new(e), Box::new(Discard), 2, 0);
        std::thread::sleep(Duration::from_millis(100));
        let (end, items, _) = p.join();
        assert_eq!(end, PipelineEnd::Stopped);
        assert!(items > 0);
    }

    #[test]
    fn lateness_is_counted_when_the_embedder_takes_a_page() {
        // Six pages all due now, 100 ms of embedding each, a queue of one:
        // the sixth is taken about 0.5 s late though the loader handed it
        // to the queue much earlier.
        let stats = Arc::new(crate::workload::trace::ReplayStats::default());
        let now = std::time::Instant::now();
        let w = VecWorkload::new(
            (0..6)
                .map(|i| Page {
                    texts: vec![format!("a{i}"), format!("b{i}")],
                    due: Some(crate::workload::Due::new(now, stats.clone())),
                })
                .collect(),
        );
        let e = SyntheticEmbedder::new(SyntheticOptions {
            dim: 4,
            cost_per_item: Duration::from_millis(50),
            ..Default::default()
        });
        let p = Pipeline::start(Box::new(w), Box::new(e), Box::new(Discard), 1, 0);
        wait(&p);
        let r = stats.report(crate::workload::trace::Pace::Original, &[]);
        assert!(r.behind_max_s >= 0.45, "{r:?}");
        assert!(r.behind_mean_s >= 0.2, "{r:?}");
    }

    /// Answers each batch from its own thread after a delay that varies by
    /// batch, so results finish out of order; tracks how many are in flight.
    struct Concurrent {
        window: usize,
        live: Arc<AtomicU64>,
        peak: Arc<AtomicU64>,
    }
    impl Embedder for Concurrent {
        fn info(&self) -> BackendInfo {
            BackendInfo::default()
        }
        fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
            self.submit(texts.to_vec()).wait()
        }
        fn max_in_flight(&self) -> usize {
            self.window
        }
        fn submit(&mut self, texts: Vec<String>) -> Pending {
            let (tx, pending) = Pending::channel();
            let (live, peak) = (self.live.clone(), self.peak.clone());
            std::thread::spawn(move || {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Page i's first text is `a{i}`: later pages often finish first.
                let i: u64 = texts[0][1..].parse().unwrap();
                std::thread::sleep(Duration::from_millis(5 + (i * 7) % 20));
                live.fetch_sub(1, Ordering::SeqCst);
                // The vector carries the page number, to check the order.
                let _ = tx.send(Ok(Embedded::Vectors {
                    dim: 1,
                    data: vec![i as f32; texts.len()],
                }));
            });
            pending
        }
    }

    /// Embeds a page only when the test says so, and says when it has one.
    struct Gated {
        started: std::sync::mpsc::SyncSender<()>,
        release: std::sync::mpsc::Receiver<()>,
    }
    impl Embedder for Gated {
        fn info(&self) -> BackendInfo {
            BackendInfo::default()
        }
        fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
            let _ = self.started.send(());
            let _ = self.release.recv();
            Ok(Embedded::Vectors {
                dim: 1,
                data: vec![0.0; texts.len()],
            })
        }
    }

    /// Counts the vectors it is given.
    struct Rows(Arc<AtomicU64>);
    impl Sink for Rows {
        fn write(&mut self, batch: &Embedded) -> std::io::Result<()> {
            self.0.fetch_add(batch.count() as u64, Ordering::SeqCst);
            Ok(())
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_count_at_stop_is_what_the_writer_stores() {
        // Regression: the page in flight at the stop was written after the
        // last sample had counted the items: the .npy held 58720 rows where
        // report.json and samples.csv said 58688 items.
        let (started_tx, started) = std::sync::mpsc::sync_channel(8);
        let (release, release_rx) = std::sync::mpsc::sync_channel(8);
        let e = Gated {
            started: started_tx,
            release: release_rx,
        };
        let rows = Arc::new(AtomicU64::new(0));
        let p = Pipeline::start(pages(10), Box::new(e), Box::new(Rows(rows.clone())), 2, 0);
        started.recv().unwrap();
        release.send(()).unwrap();
        // The second page is being embedded: the first is counted.
        started.recv().unwrap();
        p.stop();
        let counted = p.counter().get();
        assert_eq!(counted, 2);
        release.send(()).unwrap();
        let (end, items, _) = p.join();
        assert_eq!((end, items), (PipelineEnd::Stopped, counted));
        assert_eq!(rows.load(Ordering::SeqCst), counted);
    }

    /// Records the first value of every batch it is given.
    struct Order(Arc<std::sync::Mutex<Vec<f32>>>);
    impl Sink for Order {
        fn write(&mut self, batch: &Embedded) -> std::io::Result<()> {
            if let Embedded::Vectors { data, .. } = batch {
                self.0.lock().unwrap().push(data[0]);
            }
            Ok(())
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn concurrent_backend_keeps_its_window_full_and_input_order() {
        let (live, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let e = Concurrent {
            window: 4,
            live,
            peak: peak.clone(),
        };
        let p = Pipeline::start(pages(40), Box::new(e), Box::new(Order(seen.clone())), 2, 0);
        wait(&p);
        let (end, items, _) = p.join();
        assert_eq!((end, items), (PipelineEnd::Exhausted, 80));
        let order = seen.lock().unwrap().clone();
        assert_eq!(order, (0..40).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4, "the window of 4 was used");
    }
}
