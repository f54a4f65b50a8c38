//! Topic filters to values (`StdClient`'s callbacks), matched against a message's topic in
//! a trie over the filters' levels: a message costs one lookup per level of its topic (and
//! one more walk per `+` / `#` branch that exists), not one match per filter — with 10,000
//! filters the difference is three orders of magnitude (BENCHMARKS.md, "Scale").

use std::boxed::Box;
use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

/// One level of the trie.
#[derive(Debug)]
struct Node<T> {
    /// Children by exact level text.
    children: HashMap<String, Node<T>>,
    /// The `+` child.
    plus: Option<Box<Node<T>>>,
    /// The value of the filter that ends here with `/#` (or of `#` at the root).
    hash: Option<T>,
    /// The value of the filter that ends exactly here.
    value: Option<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            plus: None,
            hash: None,
            value: None,
        }
    }
}

/// A value per topic filter, and every value whose filter matches a topic name (section
/// 4.7: `+` one level, `#` the rest including the parent level, `$` topics not matched by a
/// leading wildcard).
#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
    len: usize,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of filters.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No filter?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot of `filter` (a valid topic filter), created on the way.
    fn slot(&mut self, filter: &str) -> &mut Option<T> {
        let mut node = &mut self.root;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" {
                return &mut node.hash;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.children.entry(level.into()).or_default()
            };
            if levels.peek().is_none() {
                break;
            }
        }
        &mut node.value
    }

    /// Sets the value of `filter` (a valid topic filter; see `topic::TopicFilter`), returning
    /// the one it replaces.
    pub fn insert(&mut self, filter: &str, value: T) -> Option<T> {
        let old = self.slot(filter).replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes the value of `filter`.
    pub fn remove(&mut self, filter: &str) -> Option<T> {
        let old = self.slot(filter).take();
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Calls `f` with the value of every filter that matches the topic `name`, once each.
    /// Returns how many matched.
    pub fn for_each_match(&mut self, name: &str, mut f: impl FnMut(&mut T)) -> usize {
        let levels: Vec<&str> = name.split('/').collect();
        let dollar = name.starts_with('$');
        let mut count = 0;
        visit(&mut self.root, &levels, dollar, &mut |v: &mut T| {
            count += 1;
            f(v);
        });
        count
    }
}

/// Matches the rest of the topic (`levels`) below `node`; `dollar`: the topic starts with
/// `$` and `node` is the root, so its wildcards do not apply (MQTT-4.7.2-1).
fn visit<T>(node: &mut Node<T>, levels: &[&str], dollar: bool, f: &mut impl FnMut(&mut T)) {
    if !dollar {
        if let Some(v) = node.hash.as_mut() {
            f(v); // `#` matches this level's parent too, and everything below
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        if let Some(v) = node.value.as_mut() {
            f(v);
        }
        return;
    };
    if let Some(child) = node.children.get_mut(*level) {
        visit(child, rest, false, f);
    }
    if !dollar {
        if let Some(plus) = node.plus.as_deref_mut() {
            visit(plus, rest, false, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::matches_str;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    const FILTERS: &[&str] = &[
        "#", "+", "a", "a/#", "a/+", "a/b", "a/b/#", "+/b", "+/+", "a/+/c", "+/#", "a//c", "/#",
        "$SYS/#", "$SYS/+", "+/b/c", "a/b/c/#",
    ];
    const NAMES: &[&str] = &[
        "a", "a/b", "a/b/c", "a//c", "/", "/x", "b", "$SYS/x", "$SYS", "$x/b", "a/b/c/d", "x/b/c",
    ];

    #[test]
    fn matches_exactly_what_the_linear_scan_matches() {
        let mut router = Router::new();
        for (i, f) in FILTERS.iter().enumerate() {
            router.insert(f, i);
        }
        for name in NAMES {
            let mut got = Vec::new();
            router.for_each_match(name, |i| got.push(*i));
            got.sort();
            let want: Vec<usize> = FILTERS
                .iter()
                .enumerate()
                .filter(|(_, f)| matches_str(f, name))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(got, want, "topic {name:?}");
        }
    }

    /// Every `/`-joined sequence of 1 to `max` levels drawn from `alphabet`.
    fn shapes(alphabet: &[&str], max: usize) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let mut last: Vec<String> = alphabet.iter().map(|l| (*l).into()).collect();
        for _ in 1..max {
            all.extend(last.iter().cloned());
            last = last
                .iter()
                .flat_map(|t| alphabet.iter().map(move |l| format!("{t}/{l}")))
                .collect();
        }
        all.extend(last);
        all
    }

    /// One rule source for `+`, `#` and `$`: the trie answers as the matcher does for every
    /// filter and name shape up to four levels (empty levels, `$` levels, wildcards at each
    /// place), so a change to one that the other lacks fails here.
    #[test]
    fn agrees_with_the_matcher_on_every_shape_up_to_four_levels() {
        let filters: Vec<String> = shapes(&["a", "b", "", "+", "#", "$s"], 4)
            .into_iter()
            .filter(|f| crate::topic::TopicFilter::new(f).is_ok())
            .collect();
        let names = shapes(&["a", "b", "", "$s"], 4);
        let mut router = Router::new();
        for (i, f) in filters.iter().enumerate() {
            router.insert(f, i);
        }
        assert_eq!(router.len(), filters.len());
        let mut matched = 0;
        for name in &names {
            let mut got = Vec::new();
            router.for_each_match(name, |i| got.push(*i));
            got.sort();
            let want: Vec<usize> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| matches_str(f, name))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(got, want, "topic {name:?}");
            matched += want.len();
        }
        // 935 valid filters, 340 names, 8,360 matching pairs.
        assert_eq!((filters.len(), names.len(), matched), (935, 340, 8_360));
    }

    #[test]
    fn insert_replaces_and_remove_forgets() {
        let mut router = Router::new();
        assert_eq!(router.insert("a/+", 1), None);
        assert_eq!(router.insert("a/+", 2), Some(1));
        assert_eq!(router.len(), 1);
        let mut got = Vec::new();
        router.for_each_match("a/b", |v| got.push(*v));
        assert_eq!(got, [2]);
        assert_eq!(router.remove("a/+"), Some(2));
        assert!(router.is_empty());
        assert_eq!(router.for_each_match("a/b", |_| {}), 0);
        for i in 0..100 {
            router.insert(&format!("s/{i}/#"), i);
        }
        assert_eq!(router.for_each_match("s/42/t", |v| assert_eq!(*v, 42)), 1);
    }
}
