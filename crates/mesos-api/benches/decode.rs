//! Event stream decode throughput: RecordIO framing + JSON → typed `Event`, on the OFFERS
//! events a real master sent (testdata/mesos-samples), fed in 16 KiB chunks as HTTP would.
//!
//! `cargo bench -p herd-mesos-api --bench decode` reports MB/s (group `decode-bytes`) and
//! events/s (group `decode-events`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herd_mesos_api::recordio::{Decoder, encode};
use herd_mesos_api::scheduler::Event;
use std::hint::black_box;
use std::path::Path;

const SAMPLES: [&str; 3] = [
    "scenario-1/14-event-offers.json",
    "scenario-1/18-event-offers-reserved.json",
    "scenario-2/13-event-offers-reserved.json",
];
const EVENTS: usize = 3000;
const CHUNK: usize = 16 * 1024;

fn offers_events() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mesos-samples");
    SAMPLES
        .iter()
        .map(|s| Event::from_json(&std::fs::read(dir.join(s)).unwrap()).unwrap().to_json())
        .collect()
}

/// One OFFERS event carrying `n` offers (a cluster of `n` agents), compact JSON.
fn big_offers_event(n: usize) -> Vec<u8> {
    let Event::Offers(mut offers) = Event::from_json(&offers_events()[1]).unwrap() else { unreachable!() };
    let template = offers.offers[0].clone();
    offers.offers = (0..n)
        .map(|i| {
            let mut o = template.clone();
            o.id.value = format!("{}-{i}", o.id.value);
            o.agent_id.value = format!("{}-{i}", o.agent_id.value);
            o
        })
        .collect();
    Event::Offers(offers).to_json()
}

fn stream_of(events: &[Vec<u8>], count: usize) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    for e in events.iter().cycle().take(count) {
        encode(e, &mut out);
    }
    out.to_vec()
}

fn decode_stream(stream: &[u8]) -> usize {
    let mut decoder = Decoder::default();
    let mut n = 0;
    for chunk in stream.chunks(CHUNK) {
        decoder.push(chunk);
        while let Some(record) = decoder.next_record().unwrap() {
            black_box(Event::from_json(&record).unwrap());
            n += 1;
        }
    }
    decoder.finish().unwrap();
    n
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("recorded-offers", stream_of(&offers_events(), EVENTS), EVENTS),
        ("100-offers-per-event", stream_of(&[big_offers_event(100)], 30), 30),
    ];
    for (group, throughput) in [("decode-bytes", true), ("decode-events", false)] {
        let mut g = c.benchmark_group(group);
        for (name, stream, events) in &cases {
            g.throughput(if throughput {
                Throughput::Bytes(stream.len() as u64)
            } else {
                Throughput::Elements(*events as u64)
            });
            g.bench_with_input(BenchmarkId::from_parameter(name), stream, |b, s| {
                b.iter(|| assert_eq!(decode_stream(s), *events))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
