//! Who is who: pairs each desired user with the connection user that is the same
//! person — by HR key first, then by email — and finds what one plan cannot do safely:
//! an address the source gives to one key that a user with another key holds (a
//! recycled address), and people who swap addresses. Pure; the planner turns the
//! result into changes.

use crate::email;
use crate::model::{DesiredState, DesiredUser, TenantSnapshot, TenantUser, Warning};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How a desired user was paired with a connection user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    /// The user holds the row's HR key (its email may differ: a rename).
    Key,
    /// The user has the row's email (and no key, or the row has none).
    Email,
}

/// The same person on both sides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair<'a> {
    pub want: &'a DesiredUser,
    pub have: &'a TenantUser,
    pub by: By,
}

impl Pair<'_> {
    /// The user's address in the tenant, normalised (`""` when it has none).
    pub fn old_email(&self) -> Cow<'_, str> {
        self.have.email.as_deref().map(email::key).unwrap_or(Cow::Borrowed(""))
    }

    /// A rename: found by key, with another address.
    pub fn renamed(&self) -> bool {
        self.by == By::Key && self.old_email() != self.want.email.as_str()
    }
}

/// One piece of the source × tenant comparison, about one person.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit<'a> {
    Pair(Pair<'a>),
    /// A desired user no connection user is (nor holds the address of, but one moving away).
    Create(&'a DesiredUser),
    /// A connection user with an email that is not in the source.
    Missing(&'a TenantUser),
    /// A connection user holding a key the source gives to several emails: kept as it is.
    Protected(&'a TenantUser),
}

impl Unit<'_> {
    /// Every address the unit is about (the source's and the tenant's), normalised.
    pub fn emails(&self) -> Vec<Cow<'_, str>> {
        match self {
            Unit::Pair(p) => vec![Cow::Borrowed(p.want.email.as_str()), p.old_email()],
            Unit::Create(d) => vec![Cow::Borrowed(d.email.as_str())],
            Unit::Missing(u) | Unit::Protected(u) => u.email.as_deref().map(email::key).into_iter().collect(),
        }
    }
}

/// A unit that needs another unit's rename to happen first (its address is freed by it).
#[derive(Debug, Clone)]
pub(crate) struct Needs {
    /// Index of the waiting unit in [`Matching::units`].
    pub unit: usize,
    /// Index of the rename it waits for.
    pub on: usize,
}

/// An address that cannot be given: (index of the unit that wants it, why).
pub(crate) type Conflict = (usize, String);

#[derive(Debug, Default)]
pub(crate) struct Matching<'a> {
    pub units: Vec<Unit<'a>>,
    pub needs: Vec<Needs>,
    pub conflicts: Vec<Conflict>,
    /// Groups of renames that swap addresses: indices of their units, and the text.
    pub cycles: Vec<(Vec<usize>, String)>,
    /// Depth of each rename in its chain (0: its new address is free), by unit index.
    pub rank: BTreeMap<usize, u32>,
    pub warnings: Vec<Warning>,
    /// Users of the connection in the snapshot.
    pub connection_users: u32,
}

fn key_text(k: Option<&str>) -> String {
    k.map_or_else(|| "no key".to_owned(), |k| format!("key {k}"))
}

/// Pairs the connection's users with the desired users.
pub(crate) fn match_users<'a>(desired: &'a DesiredState, tenant: &'a TenantSnapshot, connection: &str) -> Matching<'a> {
    // A user whose login in the connection is linked under another primary is not the
    // connection's user (it is never changed), but its address is taken there.
    let users: Vec<&TenantUser> =
        tenant.users.values().filter(|u| u.connection == connection && u.linked_to.is_none()).collect();
    let mut linked: BTreeMap<Cow<'a, str>, &'a TenantUser> = BTreeMap::new();
    for u in tenant.users.values().filter(|u| u.linked_to.is_some()) {
        if let Some(e) = &u.email {
            linked.entry(email::key(e)).or_insert(u);
        }
    }
    let mut m = Matching { connection_users: users.len() as u32, ..Matching::default() };
    // Sorted (email, index) and (key, index) lists instead of maps of vectors: a
    // million users each hold one entry.
    let mut by_email: Vec<(Cow<'a, str>, usize)> =
        users.iter().enumerate().filter_map(|(i, u)| u.email.as_deref().map(|e| (email::key(e), i))).collect();
    by_email.sort_unstable();
    let mut by_key: Vec<(&str, usize)> =
        users.iter().enumerate().filter_map(|(i, u)| u.synced.key.as_deref().map(|k| (k, i))).collect();
    by_key.sort_unstable();
    let range = |v: &[(Cow<'a, str>, usize)], e: &str| {
        let lo = v.partition_point(|(x, _)| x.as_ref() < e);
        let hi = v.partition_point(|(x, _)| x.as_ref() <= e);
        v[lo..hi].iter().map(|(_, i)| *i).collect::<Vec<_>>()
    };
    let holders_of_key = |k: &str| {
        let lo = by_key.partition_point(|(x, _)| *x < k);
        let hi = by_key.partition_point(|(x, _)| *x <= k);
        by_key[lo..hi].iter().map(|(_, i)| *i).collect::<Vec<_>>()
    };
    for w in by_key.chunk_by(|a, b| a.0 == b.0).filter(|c| c.len() > 1) {
        let ids: Vec<&str> = w.iter().map(|(_, i)| users[*i].user_id.as_str()).collect();
        m.warnings.push(Warning {
            kind: "duplicate_tenant_key".into(),
            row: None,
            email: None,
            message: format!(
                "the HR key {} is held by {} users of the connection ({}); they are matched by email only",
                w[0].0,
                ids.len(),
                ids.join(", ")
            ),
        });
    }

    // claim[i]: the unit index pairing tenant user i.
    let mut claim: Vec<Option<usize>> = vec![None; users.len()];
    let mut paired: BTreeMap<&str, usize> = BTreeMap::new();
    for d in desired.users.values() {
        let Some(k) = d.key.as_deref() else { continue };
        if let [i] = holders_of_key(k)[..] {
            claim[i] = Some(m.units.len());
            paired.insert(d.email.as_str(), m.units.len());
            m.units.push(Unit::Pair(Pair { want: d, have: users[i], by: By::Key }));
        }
    }
    let mut creates = Vec::new();
    for d in desired.users.values().filter(|d| !paired.contains_key(d.email.as_str())) {
        let mut matched = false;
        for i in range(&by_email, &d.email) {
            let u = users[i];
            let same_person = match (u.synced.key.as_deref(), d.key.as_deref()) {
                (None, _) | (Some(_), None) => true,
                (Some(a), Some(b)) => a == b,
            };
            if claim[i].is_none() && same_person {
                matched = true;
                claim[i] = Some(m.units.len());
                m.units.push(Unit::Pair(Pair { want: d, have: u, by: By::Email }));
            }
        }
        if !matched && let Some(u) = linked.get(d.email.as_str()) {
            let primary = u.linked_to.as_deref().unwrap_or(&u.user_id);
            m.warnings.push(Warning {
                kind: "linked_account".into(),
                row: None,
                email: Some(d.email.clone()),
                message: format!(
                    "{} is linked to {primary} (its login in {connection} is not the primary identity), left alone",
                    d.email
                ),
            });
            continue;
        }
        if !matched {
            creates.push(m.units.len());
            m.units.push(Unit::Create(d));
        }
    }

    // Addresses: a create or a rename may take an address only from a user that moves
    // away in this plan (found by its key, with another address).
    let moves_away = |i: usize, units: &[Unit<'_>]| match claim[i].map(|u| &units[u]) {
        Some(Unit::Pair(p)) => p.renamed(),
        _ => false,
    };
    let describe_holder = |u: &TenantUser| {
        let k = u.synced.key.as_deref();
        let why = match k {
            Some(k) if desired.ambiguous_keys.contains(k) => ", a key the source gives to several emails",
            Some(k) if !desired.users.values().any(|d| d.key.as_deref() == Some(k)) => {
                ", a key the source no longer has (a recycled address?)"
            }
            _ => "",
        };
        format!("{} holds it with {}{why}", u.user_id, key_text(k))
    };
    let renames: Vec<usize> =
        (0..m.units.len()).filter(|i| matches!(m.units[*i], Unit::Pair(p) if p.renamed())).collect();
    for &ui in creates.iter().chain(renames.iter()) {
        let (want, mover) = match m.units[ui] {
            Unit::Create(d) => (d, None),
            Unit::Pair(p) => (p.want, Some(p.have)),
            _ => continue,
        };
        for i in range(&by_email, &want.email) {
            if mover.is_some_and(|u| std::ptr::eq(u, users[i])) {
                continue;
            }
            if moves_away(i, &m.units) {
                m.needs.push(Needs { unit: ui, on: claim[i].expect("claimed") });
                continue;
            }
            let what = match mover {
                None => format!("{} (a new user in the source)", key_text(want.key.as_deref())),
                Some(u) => format!(
                    "{} ({}, now {}) is to move to it",
                    key_text(want.key.as_deref()),
                    u.user_id,
                    u.email.as_deref().unwrap_or("without an email")
                ),
            };
            m.conflicts.push((ui, format!("{}: {what}, but {}", want.email, describe_holder(users[i]))));
        }
    }
    for &ui in &renames {
        if let Unit::Pair(p) = m.units[ui]
            && let Some(u) = linked.get(p.want.email.as_str())
        {
            m.conflicts.push((
                ui,
                format!(
                    "{}: {} ({}) is to move to it, but it is a login of {} linked under {}",
                    p.want.email,
                    key_text(p.want.key.as_deref()),
                    p.have.user_id,
                    u.user_id,
                    u.linked_to.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    order_renames(&mut m);

    for (i, u) in users.iter().enumerate() {
        if claim[i].is_some() || u.email.is_none() {
            continue;
        }
        let protected = u.synced.key.as_deref().is_some_and(|k| desired.ambiguous_keys.contains(k));
        m.units.push(if protected { Unit::Protected(u) } else { Unit::Missing(u) });
    }
    m
}

/// Ranks renames by the length of the chain behind them, and finds the swaps (cycles),
/// which cannot be ordered at all.
fn order_renames(m: &mut Matching<'_>) {
    let mut next: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for n in &m.needs {
        if matches!(m.units[n.unit], Unit::Pair(_)) {
            next.entry(n.unit).or_default().push(n.on);
        }
    }
    // 0 unvisited, 1 on the path, 2 done.
    let mut state: BTreeMap<usize, u8> = BTreeMap::new();
    let starts: Vec<usize> = next.keys().copied().collect();
    for start in starts {
        let mut path: Vec<usize> = Vec::new();
        rank_of(start, &next, &mut state, &mut m.rank, &mut path, &mut m.cycles, &m.units);
    }
}

fn rank_of(
    at: usize,
    next: &BTreeMap<usize, Vec<usize>>,
    state: &mut BTreeMap<usize, u8>,
    rank: &mut BTreeMap<usize, u32>,
    path: &mut Vec<usize>,
    cycles: &mut Vec<(Vec<usize>, String)>,
    units: &[Unit<'_>],
) -> u32 {
    match state.get(&at) {
        Some(2) => return rank.get(&at).copied().unwrap_or(0),
        Some(1) => {
            let from = path.iter().position(|p| *p == at).unwrap_or(0);
            let members: Vec<usize> = path[from..].to_vec();
            let text: Vec<String> = members
                .iter()
                .filter_map(|u| match units[*u] {
                    Unit::Pair(p) => Some(format!(
                        "{} ({} → {})",
                        key_text(p.want.key.as_deref()),
                        p.have.email.as_deref().unwrap_or("no email"),
                        p.want.email
                    )),
                    _ => None,
                })
                .collect();
            cycles.push((members, text.join(", ")));
            return 0;
        }
        _ => {}
    }
    state.insert(at, 1);
    path.push(at);
    let mut r = 0;
    for n in next.get(&at).into_iter().flatten() {
        r = r.max(1 + rank_of(*n, next, state, rank, path, cycles, units));
    }
    path.pop();
    state.insert(at, 2);
    rank.insert(at, r);
    r
}
