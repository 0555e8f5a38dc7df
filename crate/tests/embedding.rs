//! Checks the embedding kernels (Keras `Embedding`: `embeddings` (inputDim, outputDim), output
//! `take(embeddings, ids, axis=0)`, keras/src/layers/core/embedding.py) against the naive f64
//! oracle in `reference::embedding`: the gather must be exact (it copies), the scatter-add must
//! sum every row of a repeated id (f32 sums of at most a few terms: 1e-6 relative).
//!
//! Memory discipline (STYLE rule 6): outputs sit inside NaN-filled buffers and the NaN padding
//! must survive; a bad id must leave the output untouched (ids are checked before writing).

mod common;

use common::{fast, TestRng};
use fastgru::kernels::embedding::{embedding_backward, embedding_forward, EmbeddingDims};
use fastgru::reference;
use fastgru::status::{self, Status};

const PAD: usize = 13;

fn sizes() -> Vec<(usize, usize, usize)> {
    // (N, V, E): ragged E (not a multiple of 4), tiny and larger vocabularies.
    let all = vec![(1, 1, 1), (3, 2, 5), (7, 4, 3), (17, 9, 8), (16, 3, 17), (40, 100, 13), (5, 1000, 1)];
    if fast() {
        all.into_iter().step_by(2).collect()
    } else {
        all
    }
}

fn ids_for(rng: &mut TestRng, n: usize, v: usize) -> Vec<i32> {
    (0..n).map(|_| rng.below(v) as i32).collect()
}

#[test]
fn gather_matches_reference_and_keeps_nan_padding() {
    let mut rng = TestRng::new(11);
    for (n, v, e) in sizes() {
        let table = rng.vec(v * e, -1.0, 1.0);
        let ids = ids_for(&mut rng, n, v);
        let mut buf = vec![f32::NAN; PAD + n * e + PAD];
        embedding_forward(&mut buf[PAD..PAD + n * e], &ids, &table, &EmbeddingDims { count: n, vocab: v, dim: e }).unwrap();
        let want = reference::embedding::embedding_forward(&ids, &table, e);
        for (i, (&got, &w)) in buf[PAD..PAD + n * e].iter().zip(&want).enumerate() {
            assert_eq!(got as f64, w, "(N {}, V {}, E {}) y[{}]", n, v, e, i);
        }
        assert!(buf[..PAD].iter().chain(&buf[PAD + n * e..]).all(|x| x.is_nan()), "(N {}, V {}, E {}) wrote outside y", n, v, e);
    }
}

#[test]
fn scatter_add_accumulates_repeated_ids_and_existing_gradients() {
    let mut rng = TestRng::new(12);
    for (n, v, e) in sizes() {
        // Few distinct ids so repeats are certain: ids drawn from the first min(v, 3) rows.
        let ids = ids_for(&mut rng, n, v.min(3));
        let dy = rng.vec(n * e, -1.0, 1.0);
        let before = rng.vec(v * e, -1.0, 1.0);
        let mut buf = vec![f32::NAN; PAD + v * e + PAD];
        buf[PAD..PAD + v * e].copy_from_slice(&before);
        embedding_backward(&mut buf[PAD..PAD + v * e], &dy, &ids, &EmbeddingDims { count: n, vocab: v, dim: e }).unwrap();
        let add = reference::embedding::embedding_backward(&ids, &dy, v, e);
        for i in 0..v * e {
            let want = before[i] as f64 + add[i];
            let got = buf[PAD + i] as f64;
            assert!((got - want).abs() <= 1e-6 * (1.0 + want.abs()), "(N {}, V {}, E {}) dtable[{}]: got {}, want {}", n, v, e, i, got, want);
        }
        assert!(buf[..PAD].iter().chain(&buf[PAD + v * e..]).all(|x| x.is_nan()), "(N {}, V {}, E {}) wrote outside dtable", n, v, e);
    }
}

#[test]
fn repeated_id_sums_exactly() {
    // id 1 three times: its row gets 1 + 2 + 4 (exact in f32), other rows stay.
    let ids = [1, 0, 1, 1];
    let dy = [1.0, 10.0, 100.0, 1000.0, 2.0, 20.0, 4.0, 40.0];
    let mut dt = vec![0.5f32; 3 * 2];
    embedding_backward(&mut dt, &dy, &ids, &EmbeddingDims { count: 4, vocab: 3, dim: 2 }).unwrap();
    assert_eq!(dt, vec![100.5, 1000.5, 7.5, 70.5, 0.5, 0.5]);
}

#[test]
fn out_of_range_ids_fail_before_writing() {
    let table = vec![1.0f32; 4 * 3];
    for &(bad, pos) in &[(4i32, 2usize), (-1, 0), (i32::MAX, 3), (i32::MIN, 1)] {
        let mut ids = vec![0i32, 1, 2, 3];
        ids[pos] = bad;
        let dims = EmbeddingDims { count: 4, vocab: 4, dim: 3 };
        let mut y = vec![f32::NAN; 12];
        assert_eq!(embedding_forward(&mut y, &ids, &table, &dims), Err(Status::IndexOutOfRange));
        assert!(y.iter().all(|v| v.is_nan()), "forward wrote before failing");
        let msg = String::from_utf8_lossy(status::detail()).to_string();
        assert!(msg.contains(&format!("id {} at flat position {}", bad, pos)) && msg.contains("[0, 4)"), "message: {}", msg);
        let mut dt = vec![0.25f32; 12];
        assert_eq!(embedding_backward(&mut dt, &vec![1.0; 12], &ids, &dims), Err(Status::IndexOutOfRange));
        assert!(dt.iter().all(|&v| v == 0.25), "backward wrote before failing");
    }
}
