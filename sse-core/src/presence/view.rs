//! One topic's presence as this node sees it: what every node said it has,
//! and the members present anywhere, with the joins and leaves between.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::Member;

/// A member joined the topic (its first connection anywhere) or left it (its
/// last one closed, or its node stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The member is present now.
    Joined(Member),
    /// The member is no longer present.
    Left(Member),
}

/// How many changes a watcher may fall behind before it gets the whole list
/// again instead.
const CHANGES_QUEUE: usize = 256;

struct Present {
    /// On how many nodes.
    nodes: usize,
    /// As the first node to have it said.
    member: Member,
}

pub(crate) struct View {
    by_node: HashMap<String, BTreeMap<String, Member>>,
    present: BTreeMap<String, Present>,
    /// Counts changes, so that a watcher that took a snapshot at `seq`
    /// skips the changes it already holds.
    seq: u64,
    changes: broadcast::Sender<(u64, Change)>,
    awaiting: HashSet<String>,
    synced: watch::Sender<bool>,
    /// Memberships and watchers here.
    pub(crate) users: usize,
    /// Kept after its last user until then, so that asking
    /// [`members`](super::Presence::members) again is not a new sync.
    pub(crate) linger_until: Option<Instant>,
    pub(crate) task: Option<AbortHandle>,
}

impl View {
    pub(crate) fn new() -> Self {
        Self {
            by_node: HashMap::new(),
            present: BTreeMap::new(),
            seq: 0,
            changes: broadcast::channel(CHANGES_QUEUE).0,
            awaiting: HashSet::new(),
            synced: watch::channel(false).0,
            users: 0,
            linger_until: None,
            task: None,
        }
    }

    /// What `node` has in the topic now: replaces what it said before.
    pub(crate) fn apply_state(&mut self, node: &str, members: Vec<Member>) {
        self.heard(node);
        let new: BTreeMap<String, Member> = members
            .into_iter()
            .map(|member| (member.id().to_owned(), member))
            .collect();
        let old = self.by_node.remove(node).unwrap_or_default();
        for (id, member) in &old {
            if !new.contains_key(id) {
                self.lose(id, member);
            }
        }
        for (id, member) in &new {
            if !old.contains_key(id) {
                self.gain(id, member);
            }
        }
        if !new.is_empty() {
            self.by_node.insert(node.to_owned(), new);
        }
    }

    /// `node` stopped: its members leave, unless another node has them.
    pub(crate) fn remove_node(&mut self, node: &str) {
        self.heard(node);
        for (id, member) in self.by_node.remove(node).unwrap_or_default() {
            self.lose(&id, &member);
        }
    }

    fn gain(&mut self, id: &str, member: &Member) {
        if let Some(present) = self.present.get_mut(id) {
            present.nodes += 1;
            return;
        }
        self.present.insert(
            id.to_owned(),
            Present {
                nodes: 1,
                member: member.clone(),
            },
        );
        self.announce(Change::Joined(member.clone()));
    }

    fn lose(&mut self, id: &str, member: &Member) {
        let Some(present) = self.present.get_mut(id) else {
            return;
        };
        present.nodes -= 1;
        if present.nodes == 0 {
            let gone = self
                .present
                .remove(id)
                .map_or_else(|| member.clone(), |p| p.member);
            self.announce(Change::Left(gone));
        }
    }

    fn announce(&mut self, change: Change) {
        self.seq += 1;
        // No receiver is fine: nobody watches changes.
        let _ = self.changes.send((self.seq, change));
    }

    /// The members present, and the number of the last change they include.
    pub(crate) fn snapshot(&self) -> (u64, Vec<Member>) {
        let members = self.present.values().map(|p| p.member.clone()).collect();
        (self.seq, members)
    }

    pub(crate) fn changes(&self) -> broadcast::Receiver<(u64, Change)> {
        self.changes.subscribe()
    }

    /// Waits for `nodes` to say what they have (or for the timeout, in the
    /// caller) before the view counts as complete.
    pub(crate) fn begin_sync(&mut self, nodes: impl Iterator<Item = String>) {
        self.awaiting = nodes.collect();
        if self.awaiting.is_empty() {
            self.synced.send_replace(true);
        }
    }

    fn heard(&mut self, node: &str) {
        if self.awaiting.remove(node) && self.awaiting.is_empty() {
            self.synced.send_replace(true);
        }
    }

    pub(crate) fn synced(&self) -> watch::Receiver<bool> {
        self.synced.subscribe()
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str]) -> Vec<Member> {
        ids.iter().map(|id| Member::new(*id).unwrap()).collect()
    }

    fn drain(changes: &mut broadcast::Receiver<(u64, Change)>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok((_, change)) = changes.try_recv() {
            out.push(match change {
                Change::Joined(m) => format!("+{}", m.id()),
                Change::Left(m) => format!("-{}", m.id()),
            });
        }
        out
    }

    #[test]
    fn a_member_on_two_nodes_joins_once_and_leaves_with_the_last() {
        let mut view = View::new();
        let mut changes = view.changes();
        view.apply_state("n1", members(&["alice", "bob"]));
        view.apply_state("n2", members(&["alice"]));
        assert_eq!(drain(&mut changes), ["+alice", "+bob"]);
        view.apply_state("n1", members(&["bob"]));
        assert_eq!(
            drain(&mut changes),
            Vec::<String>::new(),
            "alice is still on n2"
        );
        view.remove_node("n2");
        assert_eq!(drain(&mut changes), ["-alice"]);
        view.apply_state("n1", members(&[]));
        assert_eq!(drain(&mut changes), ["-bob"]);
        assert!(view.present.is_empty());
        assert!(view.by_node.is_empty(), "an empty node is forgotten");
    }

    #[test]
    fn a_repeated_state_changes_nothing() {
        let mut view = View::new();
        let mut changes = view.changes();
        view.apply_state("n1", members(&["alice"]));
        view.apply_state("n1", members(&["alice"]));
        assert_eq!(drain(&mut changes), ["+alice"]);
        let (seq, present) = view.snapshot();
        assert_eq!((seq, present), (1, members(&["alice"])));
    }

    #[test]
    fn sync_completes_when_every_awaited_node_spoke() {
        let mut view = View::new();
        let synced = view.synced();
        view.begin_sync(["n1".to_owned(), "n2".to_owned()].into_iter());
        view.apply_state("n1", members(&["alice"]));
        assert!(!*synced.borrow());
        view.apply_state("n2", members(&[]));
        assert!(*synced.borrow());
    }
}
