//! Sample summaries and the Markdown table.

use std::time::Duration;

/// A set of measurements in milliseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples(pub Vec<f64>);

impl Samples {
    /// Adds a duration.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1000.0);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Percentile `p` (0..=100), nearest rank.
    pub fn pct(&self, p: f64) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v[rank.min(v.len()) - 1]
    }

    /// Median.
    pub fn p50(&self) -> f64 {
        self.pct(50.0)
    }

    /// (min, max).
    pub fn range(&self) -> (f64, f64) {
        let v = self.sorted();
        (
            v.first().copied().unwrap_or(f64::NAN),
            v.last().copied().unwrap_or(f64::NAN),
        )
    }
}

/// One row of the results table: a metric for trainyard and each peer.
#[derive(Clone, Debug)]
pub struct Row {
    /// Scenario and metric.
    pub name: String,
    /// Unit of the numbers.
    pub unit: &'static str,
    /// trainyard's samples.
    pub ours: Samples,
    /// Peers' samples by name, in the same unit.
    pub peers: Vec<(&'static str, Samples)>,
    /// Whether bigger is better (throughput, requests/s): ratios are then ours/peer.
    pub higher_is_better: bool,
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The Markdown table of all rows.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | unit | trainyard p50 | p99 | min–max | n | peer p50 (ratio: how many times better trainyard is) |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (min, max) = r.ours.range();
        let peers: Vec<String> = r
            .peers
            .iter()
            .map(|(name, s)| {
                let ratio = if r.higher_is_better {
                    r.ours.p50() / s.p50()
                } else {
                    s.p50() / r.ours.p50()
                };
                format!("{name} {} ({}x)", fmt(s.p50()), fmt(ratio))
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {}–{} | {} | {} |\n",
            r.name,
            r.unit,
            fmt(r.ours.p50()),
            fmt(r.ours.pct(99.0)),
            fmt(min),
            fmt(max),
            r.ours.0.len(),
            if peers.is_empty() {
                "-".into()
            } else {
                peers.join("; ")
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s = Samples((1..=100).map(f64::from).collect());
        assert_eq!(s.p50(), 50.0);
        assert_eq!(s.pct(99.0), 99.0);
        assert_eq!(s.range(), (1.0, 100.0));
        assert!(Samples::default().p50().is_nan());
    }
}
