//! The control events nodes exchange through the broadcaster itself, so
//! presence works on any backplane with no code of its own.
//!
//! On `<prefix>` (every node reads it):
//!
//! * `alive` `<node>`: the heartbeat, and the answer to `hello`;
//! * `hello` `<node>`: a node started; every node answers `alive` at once;
//! * `gone` `<node>`: a node stopped; its members leave at once;
//! * `sync` `<node>\n<topic>`: a node started watching `topic`; every node
//!   publishes its `state` of it;
//! * `resend` `<node>`: that node is to publish the state of every topic it
//!   has members in (a node that took it for gone hears it again).
//!
//! On `<prefix>/<topic>` (the nodes watching `topic` read it):
//!
//! * `state` `<node>\n<member>[\t<info>]…`: every member `node` has in the
//!   topic, replacing what it said before. A whole list rather than a
//!   change, so that a retried or repeated publish is harmless and the last
//!   one is the truth.

use crate::decode::MessageEvent;
use crate::Event;

use super::Member;

/// A control event, as read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Alive(String),
    Hello(String),
    Gone(String),
    Sync {
        node: String,
        topic: String,
    },
    Resend(String),
    State {
        node: String,
        members: Vec<Member>,
    },
    /// The backplane's notice that events were missed.
    Gap,
}

pub(crate) fn alive(node: &str) -> Event {
    Event::new().with_event("alive").with_data(node)
}

pub(crate) fn hello(node: &str) -> Event {
    Event::new().with_event("hello").with_data(node)
}

pub(crate) fn gone(node: &str) -> Event {
    Event::new().with_event("gone").with_data(node)
}

pub(crate) fn sync(node: &str, topic: &str) -> Event {
    Event::new()
        .with_event("sync")
        .with_data(format!("{node}\n{topic}"))
}

pub(crate) fn resend(node: &str) -> Event {
    Event::new().with_event("resend").with_data(node)
}

pub(crate) fn state<'a>(node: &str, members: impl Iterator<Item = &'a Member>) -> Event {
    let mut data = node.to_owned();
    for member in members {
        data.push('\n');
        data.push_str(member.id());
        if let Some(info) = member.info() {
            data.push('\t');
            data.push_str(info);
        }
    }
    Event::new().with_event("state").with_data(data)
}

/// `None` for an event that is not presence's (ignored, as a client ignores
/// unknown event types). A `state` keeps at most `max_members` members, and
/// only well-formed ones.
pub(crate) fn parse(event: &MessageEvent, max_members: usize) -> Option<Control> {
    let data = event.data.as_str();
    let node = || data.to_owned();
    Some(match event.event_type.as_str() {
        "alive" => Control::Alive(node()),
        "hello" => Control::Hello(node()),
        "gone" => Control::Gone(node()),
        "resend" => Control::Resend(node()),
        "sync" => {
            let (node, topic) = data.split_once('\n')?;
            Control::Sync {
                node: node.to_owned(),
                topic: topic.to_owned(),
            }
        }
        "state" => {
            let mut lines = data.split('\n');
            let node = lines.next()?.to_owned();
            let members = lines
                .filter_map(|line| {
                    let (id, info) = match line.split_once('\t') {
                        Some((id, info)) => (id, Some(info)),
                        None => (line, None),
                    };
                    let member = Member::new(id).ok()?;
                    match info {
                        Some(info) => member.with_info(info).ok(),
                        None => Some(member),
                    }
                })
                .take(max_members)
                .collect();
            Control::State { node, members }
        }
        "gap" => Control::Gap,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::events;

    fn round_trip(event: Event) -> Option<Control> {
        let decoded = events(event.encode().as_bytes()).unwrap();
        parse(&decoded[0], 10)
    }

    #[test]
    fn every_control_event_reads_back() {
        assert_eq!(round_trip(alive("n1")), Some(Control::Alive("n1".into())));
        assert_eq!(round_trip(hello("n1")), Some(Control::Hello("n1".into())));
        assert_eq!(round_trip(gone("n1")), Some(Control::Gone("n1".into())));
        assert_eq!(round_trip(resend("n1")), Some(Control::Resend("n1".into())));
        assert_eq!(
            round_trip(sync("n1", "a/b c")),
            Some(Control::Sync {
                node: "n1".into(),
                topic: "a/b c".into()
            })
        );
        let members = [
            Member::new("alice").unwrap(),
            Member::new("bob").unwrap().with_info("Bob \"B\"").unwrap(),
        ];
        assert_eq!(
            round_trip(state("n1", members.iter())),
            Some(Control::State {
                node: "n1".into(),
                members: members.to_vec()
            })
        );
        assert_eq!(
            round_trip(state("n1", [].iter())),
            Some(Control::State {
                node: "n1".into(),
                members: vec![]
            })
        );
    }

    #[test]
    fn a_state_keeps_at_most_max_members_and_drops_bad_lines() {
        let data = "n1\na\n\nb\tinfo\n".to_owned() + &"x\n".repeat(20);
        let event = MessageEvent {
            event_type: "state".into(),
            data,
            last_event_id: String::new(),
        };
        let Some(Control::State { members, .. }) = parse(&event, 3) else {
            panic!("a state");
        };
        let ids: Vec<_> = members.iter().map(Member::id).collect();
        assert_eq!(ids, ["a", "b", "x"]);
        assert_eq!(members[1].info(), Some("info"));
    }

    #[test]
    fn other_events_are_not_presence() {
        let event = MessageEvent {
            event_type: "message".into(),
            data: "hi".into(),
            last_event_id: String::new(),
        };
        assert_eq!(parse(&event, 10), None);
    }
}
