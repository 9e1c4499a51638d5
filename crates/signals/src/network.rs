//! The victim–perpetrator neighbourhood of a profile, and drawing it as
//! Graphviz DOT or as a self-contained SVG.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

use crate::facts::{Facts, Role};
use crate::Profiles;

/// One profile in a neighbourhood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetNode {
    /// Profile key.
    pub key: u64,
    /// Roles it holds in the records seen.
    pub roles: BTreeSet<&'static str>,
    /// Steps from the centre.
    pub depth: u32,
    /// Whether the asking panel may see it; others are shown without
    /// detail and not expanded.
    pub visible: bool,
}

/// A harmed–harmed-by relation found in one or more records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetEdge {
    /// The victim's profile key.
    pub victim: u64,
    /// The key of the profile who harmed.
    pub harmer: u64,
    /// One involvement of the harmer per record that names the pair.
    pub involvements: Vec<u64>,
}

/// The neighbourhood of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbourhood {
    /// Its nodes, the centre first.
    pub nodes: Vec<NetNode>,
    /// Its edges.
    pub edges: Vec<NetEdge>,
    /// Whether nodes were left out to stay within the size limit.
    pub truncated: bool,
}

/// Walks victim–perpetrator links out from `center` for `depth` steps,
/// keeping at most `max_nodes` profiles. Profiles `visible` rejects are
/// included (so the panel knows someone is there) but not walked through.
pub fn neighbourhood(facts: &Facts, profiles: &impl Profiles, center: u64, depth: u32, max_nodes: usize, visible: &dyn Fn(u64) -> bool) -> Neighbourhood {
    let center = profiles.key(center);
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut nodes = vec![NetNode { key: center, roles: BTreeSet::new(), depth: 0, visible: visible(center) }];
    index.insert(center, 0);
    let mut edges: HashMap<(u64, u64), Vec<u64>> = HashMap::new();
    let mut queue = VecDeque::from([center]);
    let mut truncated = false;
    while let Some(key) = queue.pop_front() {
        let at = index[&key];
        let here = nodes[at].depth;
        for member in profiles.members(key) {
            let Some((involvement, record)) = facts.with_record(member) else {
                continue;
            };
            nodes[at].roles.insert(involvement.role.label());
            if !nodes[at].visible || here >= depth {
                continue;
            }
            for &other in &record.involvements {
                let Some(other_facts) = facts.involvement(other) else {
                    continue;
                };
                if !other_facts.identified || other_facts.role.is_victim() == involvement.role.is_victim() {
                    continue;
                }
                let other_key = profiles.key(other);
                if let std::collections::hash_map::Entry::Vacant(slot) = index.entry(other_key) {
                    if nodes.len() >= max_nodes {
                        truncated = true;
                        continue;
                    }
                    slot.insert(nodes.len());
                    nodes.push(NetNode { key: other_key, roles: BTreeSet::new(), depth: here + 1, visible: visible(other_key) });
                    queue.push_back(other_key);
                }
                let (victim, harmer, harm_involvement) = if involvement.role.is_victim() { (key, other_key, other) } else { (other_key, key, member) };
                let list = edges.entry((victim, harmer)).or_default();
                if !list.contains(&harm_involvement) {
                    list.push(harm_involvement);
                }
            }
        }
    }
    // Nodes at the edge of the walk still show their roles.
    for node in nodes.iter_mut().filter(|n| n.roles.is_empty()) {
        for member in profiles.members(node.key) {
            if let Some(involvement) = facts.involvement(member) {
                node.roles.insert(involvement.role.label());
            }
        }
    }
    let mut edges: Vec<NetEdge> = edges
        .into_iter()
        .map(|((victim, harmer), mut involvements)| {
            involvements.sort_unstable();
            NetEdge { victim, harmer, involvements }
        })
        .collect();
    edges.sort_by_key(|e| (e.victim, e.harmer));
    Neighbourhood { nodes, edges, truncated }
}

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shade {
    /// Harmed only.
    Victim,
    /// Harmed others only.
    Harmer,
    /// Both.
    Both,
    /// Outside the partnership: no detail.
    Outside,
}

impl Shade {
    /// From a node's roles and visibility.
    pub fn of(roles: &BTreeSet<&str>, visible: bool) -> Shade {
        if !visible {
            return Shade::Outside;
        }
        let victim = roles.iter().any(|r| *r == Role::KnownVictim.label() || *r == Role::SuspectedVictim.label());
        let harmer = roles.iter().any(|r| *r == Role::Perpetrator.label() || *r == Role::Hsb.label());
        match (victim, harmer) {
            (true, true) => Shade::Both,
            (false, true) => Shade::Harmer,
            _ => Shade::Victim,
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Shade::Victim => "#9ecae1",
            Shade::Harmer => "#fc9272",
            Shade::Both => "#bcbddc",
            Shade::Outside => "#d9d9d9",
        }
    }
}

/// A neighbourhood ready to draw: labels already chosen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawing {
    /// (id, label lines, shade, depth); the first is the centre.
    pub nodes: Vec<(String, Vec<String>, Shade, u32)>,
    /// (victim node index, harmer node index, label).
    pub edges: Vec<(usize, usize, String)>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Graphviz DOT: an arrow from the person who harmed to the person harmed.
pub fn dot(drawing: &Drawing) -> String {
    let mut out = String::from("digraph network {\n  graph [overlap=false];\n  node [shape=ellipse, style=filled, fontname=\"Helvetica\"];\n");
    for (i, (id, lines, shade, _)) in drawing.nodes.iter().enumerate() {
        let label = lines.iter().map(|l| l.replace('\\', "\\\\").replace('"', "\\\"")).collect::<Vec<_>>().join("\\n");
        let peripheries = if i == 0 { 2 } else { 1 };
        let _ = writeln!(out, "  \"{id}\" [label=\"{label}\", fillcolor=\"{}\", peripheries={peripheries}];", shade.colour());
    }
    for (victim, harmer, label) in &drawing.edges {
        let (Some(v), Some(h)) = (drawing.nodes.get(*victim), drawing.nodes.get(*harmer)) else {
            continue;
        };
        let _ = writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", h.0, v.0, label.replace('"', "\\\""));
    }
    out.push_str("}\n");
    out
}

/// A self-contained SVG: the centre in the middle, each further step on a
/// wider ring.
pub fn svg(drawing: &Drawing) -> String {
    let max_depth = drawing.nodes.iter().map(|n| n.3).max().unwrap_or(0);
    let ring = 170.0;
    let half = ring * f64::from(max_depth) + 140.0;
    let size = 2.0 * half;
    let mut positions = vec![(half, half); drawing.nodes.len()];
    for depth in 1..=max_depth {
        let at: Vec<usize> = (0..drawing.nodes.len()).filter(|&i| drawing.nodes[i].3 == depth).collect();
        for (k, &i) in at.iter().enumerate() {
            let angle = std::f64::consts::TAU * (k as f64 + 0.5 * f64::from(depth % 2)) / at.len() as f64;
            let radius = ring * f64::from(depth);
            positions[i] = (half + radius * angle.cos(), half + radius * angle.sin());
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size:.0}\" height=\"{size:.0}\" viewBox=\"0 0 {size:.0} {size:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">"
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"28\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#636363\"/></marker></defs>\n");
    for (victim, harmer, label) in &drawing.edges {
        let (Some(&(vx, vy)), Some(&(hx, hy))) = (positions.get(*victim), positions.get(*harmer)) else {
            continue;
        };
        let _ = writeln!(
            out,
            "<line x1=\"{hx:.1}\" y1=\"{hy:.1}\" x2=\"{vx:.1}\" y2=\"{vy:.1}\" stroke=\"#636363\" marker-end=\"url(#arrow)\"><title>{}</title></line>",
            escape(label)
        );
    }
    for (i, (id, lines, shade, _)) in drawing.nodes.iter().enumerate() {
        let (x, y) = positions[i];
        let stroke = if i == 0 { 3 } else { 1 };
        let _ = writeln!(
            out,
            "<g><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"22\" fill=\"{}\" stroke=\"#252525\" stroke-width=\"{stroke}\"/>",
            escape(id),
            shade.colour()
        );
        for (k, line) in lines.iter().enumerate() {
            let _ = writeln!(out, "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>", y + 36.0 + 13.0 * k as f64, escape(line));
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}
