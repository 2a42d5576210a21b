//! Notifications: what a job asked to be told about, and the outbox of webhook deliveries
//! with every attempt at each.

/// A job's `notification`: the topic it names and the events it selects (as stored: the
/// server has checked the topic and mapped the event names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobNotification {
    /// The topic (its name or URN, as configured).
    pub topic: String,
    /// The selected event names; empty = the topic's webhooks' own selection.
    pub events: Vec<String>,
}

/// A delivery to write beside its run event ([`crate::NewRunEvent::deliveries`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The project of the job.
    pub project_id: String,
    /// The job.
    pub job_id: i64,
    /// The event's name as notified (`queued`, `completed`, ...).
    pub event: String,
    /// The configured webhook's name.
    pub webhook: String,
    /// The body to send (JSON), the same for each attempt.
    pub payload: String,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_time`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the retry time ran out (or its webhook is no longer configured).
    Failed,
}

impl DeliveryState {
    /// As stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// From its stored name (an unknown one reads as failed).
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            _ => DeliveryState::Failed,
        }
    }
}

/// A stored delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its id (the `X-Trainyard-Delivery` header).
    pub id: i64,
    /// The project of the job.
    pub project_id: String,
    /// The job.
    pub job_id: i64,
    /// The version whose run the event happened to.
    pub version_id: i64,
    /// The run event's `seq`.
    pub event_seq: i64,
    /// The event's name as notified.
    pub event: String,
    /// The configured webhook's name.
    pub webhook: String,
    /// The body (JSON).
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the event was recorded, ms.
    pub create_time: i64,
    /// When it is (or was last) due, ms.
    pub next_time: i64,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
}

/// One attempt at a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: i64,
    /// When it was sent, ms.
    pub time: i64,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed (no answer, or not 2xx), if it did.
    pub error: Option<String>,
    /// How long it took, ms.
    pub duration_ms: i64,
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Delivered: done.
    Delivered,
    /// Try again at this time (ms).
    RetryAt(i64),
    /// Give up.
    GiveUp,
}
