//! The samples of a run in memory, as the analysis reads them: the
//! memory series ([`SampleTable`], `samples.csv`) and the per-process
//! readings of a black-box tree ([`ProcessTable`], `processes.csv`). The
//! files themselves are [`crate::runfolder`]'s.

use crate::sample::Metric;

/// The samples of a run in memory: one column per metric, values as
/// `samples.csv` holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleTable {
    /// Metrics, in column order.
    pub metrics: Vec<Metric>,
    /// Seconds since the start, per row.
    pub t: Vec<f64>,
    /// Cumulative items per row (NaN where not counted).
    pub items: Vec<f64>,
    /// `values[k][i]`: metric k at row i (NaN where the reading failed).
    pub values: Vec<Vec<f64>>,
    /// Rows dropped: a last line cut mid-write (memsoak killed while writing).
    pub dropped_rows: usize,
}

impl SampleTable {
    /// An empty table with these columns.
    pub fn new(metrics: Vec<Metric>) -> Self {
        let values = vec![Vec::new(); metrics.len()];
        SampleTable {
            metrics,
            values,
            ..Default::default()
        }
    }

    /// An empty table with room for `rows` rows in every column, allocated
    /// now so that filling it does not grow the heap.
    pub fn with_capacity(metrics: Vec<Metric>, rows: usize) -> Self {
        let values = (0..metrics.len())
            .map(|_| Vec::with_capacity(rows))
            .collect();
        SampleTable {
            metrics,
            t: Vec::with_capacity(rows),
            items: Vec::with_capacity(rows),
            values,
            dropped_rows: 0,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Whether any row counted items.
    pub fn has_items(&self) -> bool {
        self.items.iter().any(|v| v.is_finite())
    }

    /// Column of one metric, if present.
    pub fn column(&self, m: Metric) -> Option<&[f64]> {
        self.metrics
            .iter()
            .position(|x| *x == m)
            .map(|i| self.values[i].as_slice())
    }

    /// Append one row (values as recorded).
    pub fn push(&mut self, t: f64, items: Option<u64>, values: &[Option<u64>]) {
        self.t.push(t);
        self.items.push(items.map_or(f64::NAN, |v| v as f64));
        for (col, v) in self.values.iter_mut().zip(values) {
            col.push(v.map_or(f64::NAN, |v| v as f64));
        }
    }
}

/// The readings of one process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSeries {
    /// Its pid.
    pub pid: u32,
    /// Its short command line (the last one seen: a process that `exec`s
    /// takes its new name).
    pub name: String,
    /// Seconds since the first sample.
    pub t: Vec<f64>,
    /// RSS in bytes.
    pub rss: Vec<f64>,
}

/// Every process of a `processes.csv`, in order of first appearance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessTable {
    /// One series per pid.
    pub series: Vec<ProcessSeries>,
    /// A last row cut mid-line (memsoak killed) that was dropped.
    pub dropped_rows: usize,
}

impl ProcessTable {
    /// Add one reading. NOTE: pids are not reused within a run in practice
    /// (the kernel cycles through `pid_max` first), so a pid is a process.
    pub fn push(&mut self, t: f64, pid: u32, name: &str, rss: f64) {
        let s = match self.series.iter().position(|s| s.pid == pid) {
            Some(i) => &mut self.series[i],
            None => {
                self.series.push(ProcessSeries {
                    pid,
                    name: String::new(),
                    t: Vec::new(),
                    rss: Vec::new(),
                });
                self.series.last_mut().expect("just pushed")
            }
        };
        if s.name != name {
            s.name = name.to_string();
        }
        s.t.push(t);
        s.rss.push(rss);
    }

    /// Processes seen.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no process was seen.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}
