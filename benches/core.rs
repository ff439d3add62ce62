//! Criterion benchmarks of the pure core: graph build, cycle check,
//! ready-set churn and scheduler throughput.

use _core::graph::ready::ReadyTracker;
use _core::graph::Graph;
use _core::scheduler::{self, Options};
use criterion::{criterion_group, criterion_main, Criterion};

fn layered(n: usize) -> (Vec<String>, Vec<(String, String)>) {
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let mut edges = Vec::with_capacity(n * 3);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 1..n {
        for _ in 0..3.min(i) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let j = (x % i as u64) as usize;
            edges.push((names[j].clone(), names[i].clone()));
        }
    }
    (names, edges)
}

fn bench(c: &mut Criterion) {
    let (names, edges) = layered(100_000);
    c.bench_function("build+validate 100k", |b| {
        b.iter(|| {
            let mut g = Graph::with_capacity(names.len());
            g.extend(&names, &edges).unwrap();
            g
        })
    });
    let mut g = Graph::new();
    g.extend(&names, &edges).unwrap();
    c.bench_function("ready churn 100k", |b| {
        b.iter(|| {
            let mut t = ReadyTracker::new(&g);
            let mut stack = t.start();
            while let Some(n) = stack.pop() {
                stack.extend(t.complete(n).unwrap());
            }
            t.done()
        })
    });
}

/// Scheduler throughput: a no-op closure over the 100k layered DAG, so the
/// figure is the pool's own cost per node (deques, stealing, atomics, wake-ups).
fn bench_scheduler(c: &mut Criterion) {
    let (names, edges) = layered(100_000);
    let mut g = Graph::new();
    g.extend(&names, &edges).unwrap();
    let mut group = c.benchmark_group("scheduler no-op 100k");
    group.sample_size(10);
    for workers in [1, 2, 4] {
        let options = Options::new(workers);
        group.bench_function(format!("{workers} workers"), |b| {
            b.iter(|| {
                scheduler::run(&g, &options, |_| Ok::<_, ()>(true))
                    .unwrap()
                    .states
                    .len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_scheduler);
criterion_main!(benches);
