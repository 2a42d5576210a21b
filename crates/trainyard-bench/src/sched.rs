//! Scenario 10: one scheduling decision of the scheduler core (`trainyard_sched`) with many
//! runs queued across many projects: a run ends, and the core picks and starts the next one
//! (priority, fair share, quotas), as the executor drives it. In-process: the decision alone,
//! no IO.

use crate::stats::{Row, Samples};
use std::time::Instant;
use trainyard_sched::fair::{Quota, Share};
use trainyard_sched::{reactor, Comm, Core, Decision, Place, Resources, Ticket};

/// Queues `queued` one-core runs across `projects` projects (priorities 1-3, weights 1-3,
/// a running quota on every fifth project) on a 64-core host kept full, then times
/// `decisions` decisions: a run ends, the next starts.
pub fn decisions(queued: usize, projects: usize, decisions: usize) -> Row {
    let total = Resources {
        cores: 64,
        memory_gb: 256,
        gpus: 0,
    };
    let mut core: Core<()> = Core::new(total, Vec::new()).with_half_life(Some(86_400_000));
    let mut comm = Comm::new();
    let name = |p: usize| format!("project-{p}");
    for p in 0..projects {
        let quota = Quota {
            running: (p % 5 == 0).then_some(4),
            ..Quota::default()
        };
        let share = Share {
            weight: (p % 3 + 1) as u32,
            quota,
        };
        core.set_share(&name(p), share);
    }
    let demand = Place::Here(Resources {
        cores: 1,
        memory_gb: 2,
        gpus: 0,
    });
    let total_runs = queued + 64 + decisions;
    for id in 0..total_runs {
        let ticket = Ticket {
            project: name(id % projects),
            priority: (id % 3 + 1) as u8,
            waiting: false,
            ..Ticket::default()
        };
        reactor::on_enqueue(&mut core, &mut comm, id as i64, demand, ticket, ());
    }
    let mut now = 0;
    let mut running = std::collections::VecDeque::new();
    // Fill the host, then mark the rest waiting (once, as the executor's first pass does).
    for _ in 0..2 {
        reactor::schedule(&mut core, &mut comm);
        for d in comm.take() {
            if let Decision::Start { id, .. } = d {
                running.push_back(id);
            }
        }
    }
    let mut samples = Samples::default();
    for _ in 0..decisions {
        now += 1_000;
        let ended = running.pop_front().expect("the host is full");
        let t = Instant::now();
        reactor::on_clock(&mut core, now);
        reactor::on_ended(&mut core, &mut comm, ended);
        // The executor schedules until nothing more is decided.
        loop {
            reactor::schedule(&mut core, &mut comm);
            if comm.is_empty() {
                break;
            }
            for d in comm.take() {
                if let Decision::Start { id, .. } = d {
                    running.push_back(id);
                }
            }
        }
        samples.push(t.elapsed());
    }
    assert_eq!(running.len(), 64, "every decision started a run");
    Row {
        name: format!("scheduling decision, {queued} queued in {projects} projects"),
        unit: "ms",
        ours: samples,
        peers: Vec::new(),
        higher_is_better: false,
    }
}
