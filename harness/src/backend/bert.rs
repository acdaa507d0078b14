//! memsoak's own BERT encoder on candle: the same weights and the same
//! arithmetic as candle-transformers' `BertModel`, in fewer passes over
//! memory.
//!
//! It exists because the candle backend spends its time in the forward pass,
//! and candle-transformers' `bert.rs` does per layer three separate Q/K/V
//! products, three `contiguous` copies to split the heads, a separate scale,
//! mask add and an unfused softmax (exp, sum, divide: a tensor each). Here,
//! at load, the Q, K and V weights are concatenated into one matrix and
//! 1/√head_dim is folded into the Q rows; per layer there is one product for
//! Q, K and V, one copy to split the heads, a softmax with the mask added
//! in the same pass and `exp` in AVX2 lanes (`softmax.rs`; the mask is built
//! once per pass and skipped when no row is padded) and a vectorised GELU
//! (`gelu.rs`). Layer norms are candle_nn's fused op.
//!
//! NOTE: the structure and the weight names follow candle-transformers'
//! `models/bert.rs` (0.11), itself a port of Hugging Face transformers'
//! `modeling_bert.py`; `tests/candle.rs` checks the two agree.

use candle_core::{DType, Layout, Module, Result, Storage, Tensor};
use candle_nn::{Embedding, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

/// A dense layer, `x · Wᵀ + b`.
///
/// On the CPU in f32 (what memsoak runs) it is one gemm call per product:
/// the destination is filled with the bias (plus the residual, for the two
/// products a residual follows) and gemm adds `x · Wᵀ` into it, and the
/// intermediate product's GELU runs in place on that buffer. candle's
/// `matmul` would zero-fill a fresh destination, then `broadcast_add` and
/// `+` would each make one more tensor: three passes over the result that a
/// one-thread profile put at 8% of the encoder's samples. Anything else
/// (another device or dtype, a strided input) goes through candle's ops.
#[derive(Debug, Clone)]
struct Dense {
    /// `(out, in)`, contiguous.
    weight: Tensor,
    /// `(out,)`.
    bias: Tensor,
}

/// What follows a dense product in the same pass over its result.
#[derive(Clone, Copy)]
enum Then<'a> {
    /// Nothing: `x · Wᵀ + b`.
    Nothing,
    /// `x · Wᵀ + b + residual`.
    Residual(&'a Tensor),
    /// `gelu(x · Wᵀ + b)`, the exact GELU.
    Gelu,
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor) -> Result<Self> {
        Ok(Dense {
            weight: weight.contiguous()?,
            bias: bias.contiguous()?,
        })
    }

    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Self::new(weight, bias)
    }

    /// `x`: `(rows, in)`.
    fn forward(&self, x: &Tensor, then: Then) -> Result<Tensor> {
        if let Some(out) = self.forward_cpu(x, then)? {
            return Ok(out);
        }
        let y = x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        match then {
            Then::Nothing => Ok(y),
            Then::Residual(r) => y + r,
            Then::Gelu => y.gelu_erf(),
        }
    }

    /// The one-gemm path, or `None` where it does not apply.
    fn forward_cpu(&self, x: &Tensor, then: Then) -> Result<Option<Tensor>> {
        let (rows, k) = x.dims2()?;
        let n = self.bias.dim(0)?;
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = self.weight.storage_and_layout();
        let (bs, bl) = self.bias.storage_and_layout();
        let (Some(x), Some(w), Some(b)) = (cpu_f32(&xs, xl), cpu_f32(&ws, wl), cpu_f32(&bs, bl))
        else {
            return Ok(None);
        };
        if w.len() != n * k {
            candle_core::bail!("dense: weight has {} values for {n} x {k}", w.len());
        }
        let residual = match then {
            Then::Residual(r) => Some(r.storage_and_layout()),
            _ => None,
        };
        let mut dst: Vec<f32> = Vec::with_capacity(rows * n);
        match &residual {
            Some((rs, rl)) => {
                let Some(r) = cpu_f32(rs, rl) else {
                    return Ok(None);
                };
                if r.len() != rows * n {
                    candle_core::bail!("dense: residual has {} values for {rows} x {n}", r.len());
                }
                for row in r.chunks_exact(n) {
                    dst.extend(row.iter().zip(b).map(|(r, b)| r + b));
                }
            }
            None => {
                for _ in 0..rows {
                    dst.extend_from_slice(b);
                }
            }
        }
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: dst is rows × n (row stride n), x is rows × k (row stride
        // k), and Wᵀ is read as the k × n matrix whose (i, j) is w[j·k + i]:
        // every index gemm forms is inside its slice, checked above.
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        if let Then::Gelu = then {
            super::gelu::gelu_in_place(&mut dst);
        }
        let device = candle_core::Device::Cpu;
        Ok(Some(Tensor::from_vec(dst, (rows, n), &device)?))
    }
}

/// The values of a contiguous f32 tensor on the CPU (`None` for anything
/// else).
fn cpu_f32<'a>(storage: &'a Storage, layout: &Layout) -> Option<&'a [f32]> {
    match storage {
        Storage::Cpu(cpu) => super::softmax::contiguous_f32(cpu, layout),
        _ => None,
    }
}

/// LayerNorm with weight and bias, through candle_nn's fused op (which needs
/// a contiguous input: every input here is a fresh sum).
#[derive(Debug, Clone)]
struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Norm {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// One transformer layer.
#[derive(Debug, Clone)]
struct Layer {
    /// Q, K and V in one product: `(hidden, 3·hidden)`, Q pre-scaled.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    out_norm: Norm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let h = config.hidden_size;
        let head_dim = h / config.num_attention_heads;
        let att = vb.pp("attention");
        let sa = att.pp("self");
        let get = |name: &str| -> Result<(Tensor, Tensor)> {
            let vb = sa.pp(name);
            Ok((vb.get((h, h), "weight")?, vb.get(h, "bias")?))
        };
        let (qw, qb) = get("query")?;
        let (kw, kb) = get("key")?;
        let (vw, vb_) = get("value")?;
        // NOTE: (x·Wqᵀ + bq)/√d = x·(Wq/√d)ᵀ + bq/√d: the scale costs nothing
        // at run time. It changes rounding by an ulp or so, not results.
        let scale = 1.0 / (head_dim as f64).sqrt();
        let weight = Tensor::cat(&[&(qw * scale)?, &kw, &vw], 0)?;
        let bias = Tensor::cat(&[&(qb * scale)?, &kb, &vb_], 0)?;
        let eps = config.layer_norm_eps;
        Ok(Layer {
            qkv: Dense::new(weight, bias)?,
            attn_out: Dense::load(att.pp("output").pp("dense"), h, h)?,
            attn_norm: Norm::load(att.pp("output").pp("LayerNorm"), h, eps)?,
            intermediate: Dense::load(
                vb.pp("intermediate").pp("dense"),
                h,
                config.intermediate_size,
            )?,
            output: Dense::load(vb.pp("output").pp("dense"), config.intermediate_size, h)?,
            out_norm: Norm::load(vb.pp("output").pp("LayerNorm"), h, eps)?,
        })
    }
}

/// A BERT encoder (embeddings and transformer layers, no pooler) computing
/// what candle-transformers' `BertModel::forward` computes, faster on CPU.
///
/// Loads from the same safetensors names (`embeddings.*`, `encoder.layer.N.*`,
/// optionally under `bert.` or `<model_type>.`).
#[derive(Debug, Clone)]
pub struct BertEncoder {
    word: Embedding,
    token_type: Embedding,
    /// `(max_position_embeddings, hidden)`; position `i` is row `i`.
    position: Tensor,
    embed_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    act: HiddenAct,
}

impl BertEncoder {
    /// Load the weights of a BERT model described by `config`.
    ///
    /// Fails (a candle error naming the missing tensor) when the weights do
    /// not match the config, or the config asks for something this encoder
    /// does not do.
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size,
                config.num_attention_heads
            );
        }
        let probe = "embeddings.word_embeddings.weight";
        let vb = if vb.contains_tensor(probe) {
            vb
        } else if vb.contains_tensor(&format!("bert.{probe}")) {
            vb.pp("bert")
        } else if let Some(mt) = config
            .model_type
            .as_deref()
            .filter(|mt| vb.contains_tensor(&format!("{mt}.{probe}")))
        {
            vb.pp(mt)
        } else {
            vb
        };
        let h = config.hidden_size;
        let emb = vb.pp("embeddings");
        let word = emb
            .pp("word_embeddings")
            .get((config.vocab_size, h), "weight")?;
        let token_type = emb
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, h), "weight")?;
        let position = emb
            .pp("position_embeddings")
            .get((config.max_position_embeddings, h), "weight")?;
        let embed_norm = Norm::load(emb.pp("LayerNorm"), h, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(BertEncoder {
            word: Embedding::new(word, h),
            token_type: Embedding::new(token_type, h),
            position,
            embed_norm,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            hidden: h,
            act: config.hidden_act,
        })
    }

    /// Hidden states of the last layer, `(batch, seq, hidden)`, for token ids
    /// and token type ids of shape `(batch, seq)` (u32) and an optional
    /// attention mask of the same shape (1 for a real token, 0 for padding;
    /// any float dtype). Same contract as `BertModel::forward`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, s) = input_ids.dims2()?;
        let (heads, d, h) = (self.heads, self.head_dim, self.hidden);

        let x = (self.word.forward(input_ids)? + self.token_type.forward(token_type_ids)?)?
            .broadcast_add(&self.position.narrow(0, 0, s)?)?;
        let mut x = self.embed_norm.forward(&x)?.reshape((b * s, h))?;

        // The additive mask `(b, s)`, once per pass, added to every head's
        // and query position's scores inside the softmax; none at all when
        // no row is padded.
        let mask = match attention_mask {
            Some(m) if m.min_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()? < 1.0 => {
                let m = m.to_dtype(DType::F32)?;
                // torch.finfo(float32).min for padding, as BertModel does.
                Some(((1.0 - m)? * f64::from(f32::MIN))?.contiguous()?)
            }
            _ => None,
        };

        for layer in &self.layers {
            // (b·s, 3h) → (3, b, heads, s, d): the one copy that splits heads.
            let qkv = layer
                .qkv
                .forward(&x, Then::Nothing)?
                .reshape((b, s, 3, heads, d))?
                .permute((2, 0, 3, 1, 4))?
                .contiguous()?
                .reshape((3, b * heads, s, d))?;
            let q = qkv.get(0)?;
            let k = qkv.get(1)?;
            let v = qkv.get(2)?;
            let scores = q.matmul(&k.t()?)?.reshape((b, heads, s, s))?;
            let probs = super::softmax::masked_softmax(&scores, mask.as_ref())?.reshape((
                b * heads,
                s,
                s,
            ))?;
            // (b·heads, s, d) → (b·s, h) for the output product: second copy.
            let ctx = probs
                .matmul(&v)?
                .reshape((b, heads, s, d))?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * s, h))?;
            let attn = layer.attn_out.forward(&ctx, Then::Residual(&x))?;
            let attn = layer.attn_norm.forward(&attn)?;
            let inter = match self.act {
                HiddenAct::Gelu => layer.intermediate.forward(&attn, Then::Gelu)?,
                HiddenAct::GeluApproximate => {
                    layer.intermediate.forward(&attn, Then::Nothing)?.gelu()?
                }
                HiddenAct::Relu => layer.intermediate.forward(&attn, Then::Nothing)?.relu()?,
            };
            let out = layer.output.forward(&inter, Then::Residual(&attn))?;
            x = layer.out_norm.forward(&out)?;
        }
        x.reshape((b, s, h))
    }
}
