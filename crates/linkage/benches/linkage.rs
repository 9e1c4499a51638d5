//! Linkage bench (`cargo bench -p braid-linkage`): the Dice kernel's
//! comparisons per second on one core, and linkage quality and speed on
//! synthetic populations at the three noise levels, in memory.
//!
//! Environment: `BRAID_BENCH_CHILDREN` (population size, default 2000),
//! `BRAID_NOISE` (one level only), `BRAID_DIAGNOSE` (print missed and wrong
//! pairs by pattern and the fitted model), `BRAID_LSH=tables,bits[,walk]`,
//! `BRAID_LINK_P`, `BRAID_REVIEW_P`, `BRAID_SUPPORT` (try other settings),
//! `BRAID_SCALE_PROBE=children` (the linker alone as the store grows),
//! `BRAID_SEALED_PROBE=1` (only what keeping the sealed view costs a
//! replacing change).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use braid_linkage::bloom::{dice_many, kernel_name, Bloom, WORDS};
use braid_linkage::{InvolvementId, LinkerConfig, UnionFind};
use braid_synth::NoiseLevel;

fn kernel() {
    let mut state = 1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let candidates: Vec<Bloom> = (0..4096)
        .map(|_| {
            let mut words = [0u64; WORDS];
            for word in &mut words {
                *word = next() & next();
            }
            Bloom::from_words(words)
        })
        .collect();
    let ones: Vec<u32> = candidates.iter().map(Bloom::ones).collect();
    let queries: Vec<Bloom> = candidates.iter().take(64).copied().collect();
    let mut out = Vec::with_capacity(candidates.len());
    let mut best = 0.0f64;
    let mut checksum = 0.0f32;
    for _ in 0..5 {
        let started = Instant::now();
        let mut comparisons = 0u64;
        for _ in 0..20 {
            for query in &queries {
                out.clear();
                dice_many(query, &candidates, &ones, &mut out);
                checksum += out[17];
                comparisons += candidates.len() as u64;
            }
        }
        best = best.max(comparisons as f64 / started.elapsed().as_secs_f64());
    }
    println!(
        "dice kernel ({}): {:.0} M comparisons/s on one core (1024-bit encodings, 1 x 4096, best of 5; checksum {checksum:.1})",
        kernel_name(),
        best / 1e6
    );
}

/// What keeping the sealed view ([`UnionFind::keep_sealed`]) costs the
/// union-find's part of a replacing change at the size the panel bench's
/// flood meets: 1,262,668 involvements in profiles of 7, a batch that
/// withdraws 1,700 of them, resets the 11,900 members of their profiles,
/// re-links the rest and adds 1,000 new ones, then a sealed read of every
/// reset member. The same changes, alternately with and without the sealed
/// view, in one run; the medians of 15 each.
fn sealed_cost() {
    const IDS: InvolvementId = 1_262_668;
    const PROFILE: InvolvementId = 7;
    const WITHDRAWN: InvolvementId = 1_700;
    const NEW: InvolvementId = 1_000;
    let profiles = IDS / PROFILE;
    let mut uf = UnionFind::new();
    uf.reserve(IDS as usize + 40 * NEW as usize);
    for id in 0..IDS {
        uf.insert(id);
        if id % PROFILE != 0 {
            uf.union(id - id % PROFILE, id);
        }
    }
    uf.take_changes();
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut checksum = 0u64;
    for round in 0..30u64 {
        let sealed = round % 2 == 1;
        let withdrawn: Vec<InvolvementId> = (0..WITHDRAWN).map(|k| ((round * WITHDRAWN + k) * 97 % profiles) * PROFILE + round % PROFILE).collect();
        let started = Instant::now();
        if sealed {
            uf.keep_sealed();
        }
        let members = uf.members_of(&withdrawn);
        uf.kill(&withdrawn);
        let gone: std::collections::HashSet<InvolvementId> = withdrawn.iter().copied().collect();
        uf.reset(&members, |id| !gone.contains(&id));
        let alive: Vec<InvolvementId> = members.iter().copied().filter(|id| !gone.contains(id)).collect();
        for pair in alive.chunks(PROFILE as usize - 1) {
            for &id in &pair[1..] {
                uf.union(pair[0], id);
            }
        }
        for j in 0..NEW {
            let id = IDS + round * NEW + j;
            uf.insert(id);
            uf.union(alive[(j as usize * 11) % alive.len()], id);
        }
        let view = uf.sealed();
        checksum += members.iter().map(|&id| view.find(id)).sum::<InvolvementId>() % 1_000;
        checksum += uf.take_changes().len() as u64;
        times[usize::from(sealed)].push(started.elapsed().as_secs_f64() * 1e3);
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (plain, kept) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "a replacing change's union-find work (11,900 members reset and re-linked at 1.26M): {plain:.2} ms, {kept:.2} ms keeping the sealed view ({:.2}x; checksum {checksum})",
        kept / plain
    );
}

fn main() {
    if std::env::var("BRAID_SEALED_PROBE").is_ok() {
        sealed_cost();
        return;
    }
    if let Some(children) = std::env::var("BRAID_SCALE_PROBE").ok().and_then(|v| v.parse::<usize>().ok()) {
        scale_probe(children);
        return;
    }
    if std::env::var("BRAID_DIAGNOSE").is_err() {
        kernel();
    }
    let children: usize = std::env::var("BRAID_BENCH_CHILDREN").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    for (name, noise) in [("low", NoiseLevel::Low), ("default", NoiseLevel::Default), ("high", NoiseLevel::High)] {
        if std::env::var("BRAID_NOISE").is_ok_and(|n| n != name) {
            continue;
        }
        for (seed, secret) in [(42u64, 7u8), (7, 7), (42, 1), (42, 2), (42, 3)] {
            let prepared = support::prepare_with_secret(children, seed, noise, secret);
            let mut config = LinkerConfig::default();
            if let Ok(spec) = std::env::var("BRAID_LSH") {
                let parts: Vec<usize> = spec.split(',').filter_map(|p| p.parse().ok()).collect();
                config.lsh_tables = parts[0];
                config.lsh_bits = parts[1];
                if let Some(walk) = parts.get(2) {
                    config.lsh_walk_limit = *walk;
                }
            }
            if let Ok(v) = std::env::var("BRAID_LINK_P") {
                config.link_probability = v.parse().expect("link p");
            }
            if let Ok(v) = std::env::var("BRAID_SUPPORT") {
                config.join_support = v.parse().expect("support");
            }
            if let Ok(v) = std::env::var("BRAID_REVIEW_P") {
                config.review_probability = v.parse().expect("review p");
            }
            let report = support::link(&prepared, config);
            println!("{}", support::describe(&format!("noise {name} seed {seed} secret {secret}"), &report));
        }
    }
}

/// The in-memory linker alone as the population grows: time per window of
/// involvements at 10k, 100k and 1M already linked.
fn scale_probe(children: usize) {
    let prepared = support::prepare(children, 11, NoiseLevel::Default);
    let mut linker = braid_linkage::Linker::new(LinkerConfig::default());
    let mut window = Instant::now();
    let mut compared = 0u64;
    for (i, involvement) in prepared.involvements.iter().enumerate() {
        let id = i as u64 + 1;
        if [10_000u64, 100_000, 1_000_000].contains(&id) {
            window = Instant::now();
            compared = 0;
        }
        compared += u64::from(linker.insert(id, involvement).compared);
        if [60_000u64, 150_000, 1_050_000].contains(&id) {
            let seconds = window.elapsed().as_secs_f64();
            println!(
                "linker alone: 50000 involvements after {} in {seconds:.2}s = {:.0}/s ({:.1} candidates compared each)",
                id - 50_000,
                50_000.0 / seconds,
                compared as f64 / 50_000.0
            );
        }
    }
}
