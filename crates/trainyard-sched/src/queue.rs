//! The queue of runs waiting for this host: one ordered queue per project (priority first,
//! then first come), and an index by run, so that adding, removing, re-prioritising and
//! finding each project's next run cost O(log n) however many runs wait.

use crate::fair::Priority;
use crate::resources::Resources;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

/// A run's place in its project's queue: higher priority first, then the order it came in.
pub(crate) type Key = (Reverse<Priority>, u64);

/// A run waiting in the queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued<R> {
    pub(crate) project: usize,
    pub(crate) key: Key,
    pub(crate) demand: Resources,
    /// Its version is in 7 already (or the decision to move it there was made).
    pub(crate) marked_waiting: bool,
    pub(crate) route: R,
    /// Its group (sweep), whose limit it counts against.
    pub(crate) group: Option<i64>,
    /// Whether it may be preempted once it runs.
    pub(crate) preemptible: bool,
}

/// Every queued run, by id and in its project's order.
#[derive(Clone, Debug)]
pub(crate) struct Queue<R> {
    runs: HashMap<i64, Queued<R>>,
    /// Per project (by index), its runs in order.
    lines: Vec<BTreeMap<Key, i64>>,
    /// Per project, how many of its runs wait at each priority (index = priority).
    counts: Vec<[u64; 4]>,
    next_seq: u64,
}

impl<R> Default for Queue<R> {
    fn default() -> Self {
        Self {
            runs: HashMap::new(),
            lines: Vec::new(),
            counts: Vec::new(),
            next_seq: 0,
        }
    }
}

fn slot(p: Priority) -> usize {
    usize::from(p.min(3))
}

impl<R> Queue<R> {
    pub(crate) fn len(&self) -> usize {
        self.runs.len()
    }

    pub(crate) fn contains(&self, id: i64) -> bool {
        self.runs.contains_key(&id)
    }

    pub(crate) fn get(&self, id: i64) -> Option<&Queued<R>> {
        self.runs.get(&id)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.runs.keys().copied()
    }

    fn grow(&mut self, project: usize) {
        if self.lines.len() <= project {
            self.lines.resize_with(project + 1, BTreeMap::new);
            self.counts.resize(project + 1, [0; 4]);
        }
    }

    /// Adds run `id` at the back of its priority in `project`'s queue.
    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of a queued run, from its one caller"
    )]
    pub(crate) fn push(
        &mut self,
        id: i64,
        project: usize,
        priority: Priority,
        demand: Resources,
        marked_waiting: bool,
        route: R,
        group: Option<i64>,
        preemptible: bool,
    ) {
        self.grow(project);
        self.next_seq += 1;
        let key = (Reverse(priority), self.next_seq);
        self.lines[project].insert(key, id);
        self.counts[project][slot(priority)] += 1;
        self.runs.insert(
            id,
            Queued {
                project,
                key,
                demand,
                marked_waiting,
                route,
                group,
                preemptible,
            },
        );
    }

    /// Takes run `id` out.
    pub(crate) fn remove(&mut self, id: i64) -> Option<Queued<R>> {
        let q = self.runs.remove(&id)?;
        self.lines[q.project].remove(&q.key);
        self.counts[q.project][slot(q.key.0 .0)] -= 1;
        Some(q)
    }

    /// Moves run `id` to the back of priority `priority` in its project; false when it
    /// does not wait. Its place among runs of that priority is kept when it does not change.
    pub(crate) fn set_priority(&mut self, id: i64, priority: Priority) -> bool {
        let Some(q) = self.runs.get_mut(&id) else {
            return false;
        };
        if q.key.0 .0 == priority {
            return true;
        }
        let project = q.project;
        self.lines[project].remove(&q.key);
        self.counts[project][slot(q.key.0 .0)] -= 1;
        self.next_seq += 1;
        q.key = (Reverse(priority), self.next_seq);
        self.lines[project].insert(q.key, id);
        self.counts[project][slot(priority)] += 1;
        true
    }

    /// `project`'s next run.
    pub(crate) fn head(&self, project: usize) -> Option<(Key, i64)> {
        self.lines
            .get(project)?
            .first_key_value()
            .map(|(k, id)| (*k, *id))
    }

    pub(crate) fn mark(&mut self, id: i64) -> bool {
        match self.runs.get_mut(&id) {
            Some(q) if !q.marked_waiting => {
                q.marked_waiting = true;
                true
            }
            _ => false,
        }
    }

    /// Runs of `project` before `key` in its queue.
    pub(crate) fn ahead_in(&self, project: usize, key: Key) -> u64 {
        self.lines[project].range(..key).count() as u64
    }

    /// How many runs of `project` wait.
    pub(crate) fn count_in(&self, project: usize) -> u64 {
        self.counts.get(project).map_or(0, |c| c.iter().sum())
    }

    /// Runs of projects other than `project` at a priority above `priority`.
    pub(crate) fn above_elsewhere(&self, project: usize, priority: Priority) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .filter(|(p, _)| *p != project)
            .map(|(_, c)| c[slot(priority) + 1..].iter().sum::<u64>())
            .sum()
    }

    /// The projects with runs waiting: their indices.
    pub(crate) fn projects(&self) -> impl Iterator<Item = usize> + '_ {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, _)| p)
    }

    /// Checks that the index and the per-project queues agree.
    pub(crate) fn check(&self) -> Result<(), String> {
        let in_lines: usize = self.lines.iter().map(BTreeMap::len).sum();
        let counted: u64 = self.counts.iter().flatten().sum();
        if in_lines != self.runs.len() || counted != self.runs.len() as u64 {
            return Err(format!(
                "{} runs queued, {in_lines} in the project queues, {counted} counted",
                self.runs.len()
            ));
        }
        for (id, q) in &self.runs {
            if self.lines[q.project].get(&q.key) != Some(id) {
                return Err(format!("run {id} is not in its project's queue"));
            }
        }
        Ok(())
    }
}
