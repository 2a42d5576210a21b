//! A backend's report of a run's end, as the scheduler core's exit decision
//! (`trainyard_sched::status::end`) takes it.

use trainyard_exec::backend::RunEnd;
use trainyard_exec::RunOutcome;
use trainyard_sched::status::{End, Exit};

/// How the run's workers ended (lost when there is no exit record), and whether its time
/// limit ended it. A run the server stopped as `hung` ended as hung, unless its workers
/// succeeded meanwhile.
pub fn of(end: &RunEnd, hung: Option<trainyard_sched::hang::Hung>) -> End {
    let exit = match end.exit.as_ref().map(|e| &e.outcome) {
        None => Exit::Lost,
        Some(RunOutcome::Succeeded) => Exit::Succeeded,
        Some(RunOutcome::Failed {
            worker,
            exit_code,
            signal,
        }) => Exit::Failed {
            worker: *worker,
            exit_code: *exit_code,
            signal: *signal,
        },
        Some(RunOutcome::Stopped) => Exit::Stopped,
        Some(RunOutcome::SpawnFailed { message }) => Exit::SpawnFailed(message.clone()),
        Some(RunOutcome::UploadFailed { message }) => Exit::UploadFailed(message.clone()),
        Some(RunOutcome::LogLimit { message }) => Exit::LogLimit(message.clone()),
    };
    let exit = match (hung, exit) {
        (_, Exit::Succeeded) => Exit::Succeeded,
        (Some(hung), _) => Exit::Hung(hung),
        (None, exit) => exit,
    };
    End {
        exit,
        timed_out: end.timed_out,
    }
}
