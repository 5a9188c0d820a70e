//! Request ids: the CLI makes one per change and keeps it across its
//! retries; the controller claims it in the change's transaction and
//! stores the first answer, which a repeat gets again.

use crate::PgTx;
use crate::tx::{Result, get};
use roster_core::clock::Timestamp;

/// A request id being claimed, with who asked, from where, for what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestClaim {
    pub id: String,
    pub at: Timestamp,
    /// The person the request was made for (their Roster name).
    pub person: String,
    /// The host it came through ('' = the controller machine).
    pub host: String,
    /// What was asked (e.g. `users.suspend alice`).
    pub action: String,
}

/// A claimed request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub id: String,
    pub at: Timestamp,
    pub person: String,
    pub host: String,
    pub action: String,
    /// The first answer; `None`: applied, its answer not stored yet.
    pub answer: Option<String>,
}

impl PgTx<'_> {
    /// Claim a request id: true when it was new (now stored), false when
    /// it was claimed before (nothing inserted: answer the first answer).
    pub fn claim_request(&self, claim: &RequestClaim) -> Result<bool> {
        let claimed = self.execute(
            "INSERT INTO request_ids (id, at, person, host, action) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
            &[
                &claim.id,
                &claim.at,
                &claim.person,
                &claim.host,
                &claim.action,
            ],
        )?;
        Ok(claimed > 0)
    }

    pub fn request(&self, id: &str) -> Result<Option<RequestRow>> {
        self.query_opt(
            "SELECT id, at, person, host, action, answer FROM request_ids WHERE id = $1",
            &[&id],
        )?
        .map(|row| {
            Ok(RequestRow {
                id: get(&row, 0)?,
                at: get(&row, 1)?,
                person: get(&row, 2)?,
                host: get(&row, 3)?,
                action: get(&row, 4)?,
                answer: get(&row, 5)?,
            })
        })
        .transpose()
    }

    /// Store a claimed request's answer (replacing an earlier one); false
    /// when the id was never claimed (nothing stored). Never a secret: a
    /// repeat is told "done by your earlier attempt", not shown it again.
    pub fn store_answer(&self, id: &str, answer: &str) -> Result<bool> {
        let stored = self.execute(
            "UPDATE request_ids SET answer = $2 WHERE id = $1",
            &[&id, &answer],
        )?;
        Ok(stored > 0)
    }

    /// Forget a request id whose call failed after a write of its own (a
    /// wrong password counted): its claim and its audit row, never an
    /// answered one's nor another person's or host's.
    pub fn release_request(&self, id: &str, person: &str, host: &str) -> Result<bool> {
        let released = self.execute(
            "DELETE FROM request_ids WHERE id = $1 AND person = $2 AND host = $3 AND answer IS NULL",
            &[&id, &person, &host],
        )?;
        if released > 0 {
            self.execute("DELETE FROM audit WHERE request_id = $1", &[&id])?;
        }
        Ok(released > 0)
    }
}
