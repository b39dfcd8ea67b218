namespace Mlx.Nn;

public static partial class Nn
{
    /// <summary>
    /// softmax(scale · Q Kᵀ + mask) V, as mx.fast.scaled_dot_product_attention (its reference path): queries
    /// (B, H_q, L_q, D), keys (B, H_kv, L_kv, D), values (B, H_kv, L_kv, D_v), H_q a multiple of H_kv (grouped-query
    /// attention). <paramref name="mask"/> is additive, or boolean (true = attend; false positions get the dtype's
    /// lowest value); <paramref name="maskMode"/> "causal" masks key j > query i + (L_kv - L_q) instead.
    /// <paramref name="sinks"/> (H_q,) are extra logits that join each softmax and are dropped after it.
    /// Float32/float64 without a mask array or sinks run as one fused op (<see cref="ScaledDotProductAttentionPrimitive"/>).
    /// </summary>
    public static MxArray ScaledDotProductAttention(MxArray queries, MxArray keys, MxArray values, double scale, MxArray? mask = null,
        string? maskMode = null, MxArray? sinks = null)
    {
        foreach (var t in new[] { queries, keys, values })
        {
            if (t.NDim != 4) throw new ArgumentException($"[scaled_dot_product_attention] input with shape {MxArray.FormatShape(t.ShapeRef)} expected to be rank 4");
        }
        if (maskMode is not (null or "" or "causal" or "array")) throw new ArgumentException($"[scaled_dot_product_attention] Invalid mask_mode {maskMode}. mask_mode must be 'causal', 'array' or ''.");
        bool causal = maskMode == "causal";
        if (causal && mask is not null) throw new ArgumentException("[scaled_dot_product_attention] Invalid mask_arr for mask_mode 'causal'. No array mask should be passed.");
        if (queries.ShapeRef[^1] != keys.ShapeRef[^1]) throw new ArgumentException("[scaled_dot_product_attention] query, keys expected to have matching last dimension.");
        int nq = queries.ShapeRef[^3], nkv = keys.ShapeRef[^3];
        if (values.ShapeRef[^3] != nkv) throw new ArgumentException("[scaled_dot_product_attention] keys, values expected to have matching n_kv_heads.");
        if (nq % nkv != 0) throw new ArgumentException($"[scaled_dot_product_attention] n_heads must be a multiple of n_kv_heads, found n_heads {nq} for n_kv_heads {nkv}.");
        var dt = Mx.ResultType(queries, keys, values);
        if (!dt.IsFloating()) throw new ArgumentException($"[scaled_dot_product_attention] Received unsupported type {dt.Name()}.");
        if (mask is null && sinks is null && Dispatch.IsComputeFloat(dt))
        {
            var (q, k, v) = (Mx.AsType(queries, dt), Mx.AsType(keys, dt), Mx.AsType(values, dt));
            if (ScaledDotProductAttentionPrimitive.Supports(q, k, v)) return ScaledDotProductAttentionPrimitive.Create(q, k, v, scale, causal);
        }
        return ComposedAttention(queries, keys, values, scale, mask, causal, sinks);
    }

    /// <summary>Attention by matmul, mask, softmax and matmul ops: the fused op's GPU path and every case it does not take.</summary>
    internal static MxArray ComposedAttention(MxArray queries, MxArray keys, MxArray values, double scale, MxArray? mask, bool causal, MxArray? sinks)
    {
        int nq = queries.ShapeRef[^3], nkv = keys.ShapeRef[^3];
        var dt = Mx.ResultType(queries, keys, values);
        var q = Mx.Multiply(Mx.AsType(queries, dt), Mx.Array(scale, dt));
        var k = Mx.AsType(keys, dt);
        var v = Mx.AsType(values, dt);
        int repeats = nq / nkv;
        if (repeats > 1)
        {
            q = Mx.Unflatten(q, 1, new[] { nkv, repeats });
            k = Mx.ExpandDims(k, 2);
            v = Mx.ExpandDims(v, 2);
        }
        var scores = Mx.Matmul(q, Mx.SwapAxes(k, -1, -2));
        if (causal || mask is not null)
        {
            MxArray m;
            if (causal)
            {
                m = ScaledDotProductAttentionPrimitive.CausalMask(q.ShapeRef[^2], k.ShapeRef[^2]);
            }
            else
            {
                if (mask!.NDim > 4) throw new ArgumentException("[scaled_dot_product_attention] the mask is expected to have at most rank 4.");
                m = mask.DType == DType.Bool ? mask : Mx.AsType(mask, dt);
                var full = queries.Shape;
                full[^1] = keys.ShapeRef[^2];
                m = Mx.BroadcastTo(m, full);
            }
            if (repeats > 1 && m.NDim >= 3)
            {
                m = m.ShapeRef[^3] == 1 ? Mx.ExpandDims(m, -3) : Mx.Unflatten(m, -3, new[] { nkv, repeats });
            }
            scores = m.DType == DType.Bool ? Mx.Where(m, scores, Mx.Array(LowestValue(dt), dt)) : Mx.Add(scores, m);
        }
        if (sinks is not null)
        {
            var s = Mx.ExpandDims(Mx.AsType(sinks, dt), new[] { 0, 2, 3 });
            if (scores.NDim == 5) s = Mx.Unflatten(s, 1, new[] { nkv, repeats });
            var bshape = scores.Shape;
            bshape[^1] = 1;
            scores = Mx.Concatenate(new[] { Mx.BroadcastTo(s, bshape), scores }, -1);
        }
        scores = Mx.Softmax(scores, -1, precise: true);
        if (sinks is not null)
        {
            var start = new int[scores.NDim];
            start[^1] = 1;
            scores = Mx.Slice(scores, start, scores.Shape);
        }
        var output = Mx.Matmul(scores, v);
        return repeats > 1 ? Mx.Flatten(output, 1, 2) : output;
    }

    /// <summary>The lowest finite value of a floating dtype (numpy's finfo(dtype).min).</summary>
    internal static double LowestValue(DType dtype) => dtype switch
    {
        DType.Float16 => -65504.0,
        DType.BFloat16 => -3.3895313892515355e38,
        DType.Float64 => double.MinValue,
        _ => float.MinValue,
    };
}

/// <summary>
/// Multi-head attention as mlx.nn.MultiHeadAttention: projections <c>query_proj</c>, <c>key_proj</c>,
/// <c>value_proj</c>, <c>out_proj</c> (no bias by default); inputs (B, L, D).
/// </summary>
public sealed class MultiHeadAttention : Module
{
    private readonly Linear _queryProj, _keyProj, _valueProj, _outProj;

    public MultiHeadAttention(int dims, int numHeads, int? queryInputDims = null, int? keyInputDims = null, int? valueInputDims = null,
        int? valueDims = null, int? valueOutputDims = null, bool bias = false)
    {
        if (dims % numHeads != 0)
        {
            throw new ArgumentException($"The input feature dimensions should be divisible by the number of heads ({dims} % {numHeads}) != 0");
        }
        int qIn = queryInputDims ?? dims;
        int kIn = keyInputDims ?? dims;
        int vIn = valueInputDims ?? kIn;
        int vDims = valueDims ?? dims;
        int vOut = valueOutputDims ?? dims;
        NumHeads = numHeads;
        _queryProj = Child("query_proj", new Linear(qIn, dims, bias));
        _keyProj = Child("key_proj", new Linear(kIn, dims, bias));
        _valueProj = Child("value_proj", new Linear(vIn, vDims, bias));
        _outProj = Child("out_proj", new Linear(vDims, vOut, bias));
    }

    public int NumHeads { get; }

    /// <summary>Self-attention without a mask.</summary>
    public override MxArray Forward(MxArray x) => Forward(x, x, x);

    /// <summary>
    /// Attention of the projected inputs; <paramref name="mask"/> additive or boolean (true = attend), or
    /// <paramref name="maskMode"/> "causal" (MLX's mask="causal").
    /// </summary>
    public MxArray Forward(MxArray queries, MxArray keys, MxArray values, MxArray? mask = null, string? maskMode = null)
    {
        queries = _queryProj.Forward(queries);
        keys = _keyProj.Forward(keys);
        values = _valueProj.Forward(values);
        var q = Heads(queries);
        var k = Heads(keys);
        var v = Heads(values);
        double scale = Math.Sqrt(1.0 / q.ShapeRef[^1]);
        var output = Nn.ScaledDotProductAttention(q, k, v, scale, mask, maskMode);
        output = Mx.Flatten(Mx.Transpose(output, new[] { 0, 2, 1, 3 }), -2, -1);
        return _outProj.Forward(output);
    }

    private MxArray Heads(MxArray x) => Mx.Transpose(Mx.Unflatten(x, -1, new[] { NumHeads, -1 }), new[] { 0, 2, 1, 3 });

    /// <summary>(N, N): 0 on and below the diagonal, the dtype's lowest value above it.</summary>
    public static MxArray CreateAdditiveCausalMask(int n, DType dtype = DType.Float32)
    {
        var indices = Mx.Arange(n);
        var mask = Mx.Less(Mx.ExpandDims(indices, 1), Mx.ExpandDims(indices, 0));
        return Mx.Multiply(Mx.AsType(mask, dtype), Mx.Array(Nn.LowestValue(dtype), dtype));
    }
}

/// <summary>
/// MLX's nn.utils.checkpoint for a module: the module's parameters become inputs of a checkpointed function (so
/// they get gradients), set on the module while the body runs (in the forward pass and again in the backward pass).
/// </summary>
internal static class CheckpointUtil
{
    public static MxArray Call(Module module, Func<MxArray[], MxArray> body, params MxArray[] inputs)
    {
        var ps = module.Parameters();
        var names = ps.Keys.ToArray();
        int n = inputs.Length;
        var fn = Mx.Checkpoint(args =>
        {
            var saved = module.Parameters();
            module.Update(names.Select((k, i) => (k, args[n + i])).ToDictionary(t => t.k, t => t.Item2));
            try
            {
                return new[] { body(args.Take(n).ToArray()) };
            }
            finally
            {
                module.Update(saved);
            }
        });
        return fn(inputs.Concat(ps.Values).ToArray())[0];
    }
}

/// <summary>A list of child modules named "0", "1", ... (a Python list attribute of an MLX module).</summary>
internal sealed class ModuleList : Module
{
    private readonly List<Module> _items = new();

    public T Add<T>(T m) where T : Module
    {
        Child(_items.Count.ToString(), m);
        _items.Add(m);
        return m;
    }

    public IReadOnlyList<Module> Items => _items;

    public override MxArray Forward(MxArray x) => throw new NotSupportedException();
}

public sealed class TransformerEncoderLayer : Module
{
    private readonly MultiHeadAttention _attention;
    private readonly LayerNorm _ln1, _ln2;
    private readonly Linear _linear1, _linear2;
    private readonly Dropout _dropout1, _dropout2;
    private readonly Func<MxArray, MxArray> _activation;
    private readonly bool _normFirst;

    public TransformerEncoderLayer(int dims, int numHeads, int? mlpDims = null, double dropout = 0.0, Func<MxArray, MxArray>? activation = null, bool normFirst = true)
    {
        int mlp = mlpDims ?? dims * 4;
        _attention = Child("attention", new MultiHeadAttention(dims, numHeads));
        _ln1 = Child("ln1", new LayerNorm(dims));
        _ln2 = Child("ln2", new LayerNorm(dims));
        _linear1 = Child("linear1", new Linear(dims, mlp));
        _linear2 = Child("linear2", new Linear(mlp, dims));
        _dropout1 = Child("dropout1", new Dropout(dropout));
        _dropout2 = Child("dropout2", new Dropout(dropout));
        _activation = activation ?? Nn.Relu;
        _normFirst = normFirst;
    }

    public override MxArray Forward(MxArray x) => Forward(x, null);

    public MxArray Forward(MxArray x, MxArray? mask)
    {
        MxArray y;
        if (_normFirst)
        {
            y = _ln1.Forward(x);
            y = _attention.Forward(y, y, y, mask);
            y = _dropout1.Forward(y);
            x = Mx.Add(x, y);
            y = _ln2.Forward(x);
            y = _linear1.Forward(y);
            y = _activation(y);
            y = _dropout2.Forward(y);
            y = _linear2.Forward(y);
            return Mx.Add(x, y);
        }
        y = _attention.Forward(x, x, x, mask);
        y = _dropout1.Forward(y);
        x = _ln1.Forward(Mx.Add(x, y));
        y = _linear1.Forward(x);
        y = _activation(y);
        y = _dropout2.Forward(y);
        y = _linear2.Forward(y);
        return _ln2.Forward(Mx.Add(x, y));
    }
}

/// <summary>A stack of encoder layers ("layers.0", ...) followed by a LayerNorm ("ln").</summary>
public sealed class TransformerEncoder : Module
{
    private readonly ModuleList _layers;
    private readonly LayerNorm _ln;

    private readonly bool _checkpoint;

    /// <param name="checkpoint">
    /// Recompute each layer's activations in the backward pass instead of keeping them (MLX's nn.utils.checkpoint);
    /// the values and gradients are the same. With dropout the recomputation draws new masks, as in MLX.
    /// </param>
    public TransformerEncoder(int numLayers, int dims, int numHeads, int? mlpDims = null, double dropout = 0.0, Func<MxArray, MxArray>? activation = null,
        bool normFirst = true, bool checkpoint = false)
    {
        _checkpoint = checkpoint;
        _layers = Child("layers", new ModuleList());
        for (int i = 0; i < numLayers; i++) _layers.Add(new TransformerEncoderLayer(dims, numHeads, mlpDims, dropout, activation, normFirst));
        _ln = Child("ln", new LayerNorm(dims));
    }

    public IReadOnlyList<TransformerEncoderLayer> Layers => _layers.Items.Cast<TransformerEncoderLayer>().ToList();

    public override MxArray Forward(MxArray x) => Forward(x, null);

    public MxArray Forward(MxArray x, MxArray? mask)
    {
        foreach (TransformerEncoderLayer l in _layers.Items)
        {
            x = _checkpoint ? CheckpointUtil.Call(l, a => l.Forward(a[0], mask), x) : l.Forward(x, mask);
        }
        return _ln.Forward(x);
    }
}

public sealed class TransformerDecoderLayer : Module
{
    private readonly MultiHeadAttention _selfAttention, _crossAttention;
    private readonly LayerNorm _ln1, _ln2, _ln3;
    private readonly Linear _linear1, _linear2;
    private readonly Dropout _dropout1, _dropout2, _dropout3;
    private readonly Func<MxArray, MxArray> _activation;
    private readonly bool _normFirst;

    public TransformerDecoderLayer(int dims, int numHeads, int? mlpDims = null, double dropout = 0.0, Func<MxArray, MxArray>? activation = null, bool normFirst = true)
    {
        int mlp = mlpDims ?? dims * 4;
        _selfAttention = Child("self_attention", new MultiHeadAttention(dims, numHeads));
        _crossAttention = Child("cross_attention", new MultiHeadAttention(dims, numHeads));
        _ln1 = Child("ln1", new LayerNorm(dims));
        _ln2 = Child("ln2", new LayerNorm(dims));
        _ln3 = Child("ln3", new LayerNorm(dims));
        _linear1 = Child("linear1", new Linear(dims, mlp));
        _linear2 = Child("linear2", new Linear(mlp, dims));
        _dropout1 = Child("dropout1", new Dropout(dropout));
        _dropout2 = Child("dropout2", new Dropout(dropout));
        _dropout3 = Child("dropout3", new Dropout(dropout));
        _activation = activation ?? Nn.Relu;
        _normFirst = normFirst;
    }

    public override MxArray Forward(MxArray x) => throw new NotSupportedException("TransformerDecoderLayer takes (x, memory, xMask, memoryMask).");

    public MxArray Forward(MxArray x, MxArray memory, MxArray? xMask, MxArray? memoryMask)
    {
        MxArray y;
        if (_normFirst)
        {
            y = _ln1.Forward(x);
            y = _selfAttention.Forward(y, y, y, xMask);
            y = _dropout1.Forward(y);
            x = Mx.Add(x, y);
            y = _ln2.Forward(x);
            y = _crossAttention.Forward(y, memory, memory, memoryMask);
            y = _dropout2.Forward(y);
            x = Mx.Add(x, y);
            y = _ln3.Forward(x);
            y = _linear1.Forward(y);
            y = _activation(y);
            y = _dropout3.Forward(y);
            y = _linear2.Forward(y);
            return Mx.Add(x, y);
        }
        y = _selfAttention.Forward(x, x, x, xMask);
        y = _dropout1.Forward(y);
        x = _ln1.Forward(Mx.Add(x, y));
        y = _crossAttention.Forward(x, memory, memory, memoryMask);
        y = _dropout2.Forward(y);
        x = _ln2.Forward(Mx.Add(x, y));
        y = _linear1.Forward(x);
        y = _activation(y);
        y = _dropout3.Forward(y);
        y = _linear2.Forward(y);
        return _ln3.Forward(Mx.Add(x, y));
    }
}

public sealed class TransformerDecoder : Module
{
    private readonly ModuleList _layers;
    private readonly LayerNorm _ln;

    private readonly bool _checkpoint;

    /// <param name="checkpoint">Recompute each layer's activations in the backward pass (see <see cref="TransformerEncoder"/>).</param>
    public TransformerDecoder(int numLayers, int dims, int numHeads, int? mlpDims = null, double dropout = 0.0, Func<MxArray, MxArray>? activation = null,
        bool normFirst = true, bool checkpoint = false)
    {
        _checkpoint = checkpoint;
        _layers = Child("layers", new ModuleList());
        for (int i = 0; i < numLayers; i++) _layers.Add(new TransformerDecoderLayer(dims, numHeads, mlpDims, dropout, activation, normFirst));
        _ln = Child("ln", new LayerNorm(dims));
    }

    public IReadOnlyList<TransformerDecoderLayer> Layers => _layers.Items.Cast<TransformerDecoderLayer>().ToList();

    public override MxArray Forward(MxArray x) => throw new NotSupportedException("TransformerDecoder takes (x, memory, xMask, memoryMask).");

    public MxArray Forward(MxArray x, MxArray memory, MxArray? xMask, MxArray? memoryMask)
    {
        foreach (TransformerDecoderLayer l in _layers.Items)
        {
            x = _checkpoint ? CheckpointUtil.Call(l, a => l.Forward(a[0], a[1], xMask, memoryMask), x, memory) : l.Forward(x, memory, xMask, memoryMask);
        }
        return _ln.Forward(x);
    }
}

/// <summary>
/// Encoder-decoder transformer as mlx.nn.Transformer (children "encoder" and "decoder"). A custom encoder or
/// decoder may be any module: a TransformerEncoder / TransformerDecoder gets the masks (and the decoder the memory);
/// another module is called with its single input.
/// </summary>
public sealed class Transformer : Module
{
    public Transformer(int dims = 512, int numHeads = 8, int numEncoderLayers = 6, int numDecoderLayers = 6, int? mlpDims = null, double dropout = 0.0,
        Func<MxArray, MxArray>? activation = null, Module? customEncoder = null, Module? customDecoder = null,
        bool normFirst = true, bool checkpoint = false)
    {
        Encoder = Child("encoder", customEncoder ?? new TransformerEncoder(numEncoderLayers, dims, numHeads, mlpDims, dropout, activation, normFirst, checkpoint));
        Decoder = Child("decoder", customDecoder ?? new TransformerDecoder(numDecoderLayers, dims, numHeads, mlpDims, dropout, activation, normFirst, checkpoint));
    }

    public Module Encoder { get; }

    public Module Decoder { get; }

    public override MxArray Forward(MxArray x) => throw new NotSupportedException("Transformer takes (src, tgt, srcMask, tgtMask, memoryMask).");

    public MxArray Forward(MxArray src, MxArray tgt, MxArray? srcMask, MxArray? tgtMask, MxArray? memoryMask)
    {
        var memory = Encoder is TransformerEncoder e ? e.Forward(src, srcMask) : Encoder.Forward(src);
        return Decoder is TransformerDecoder d ? d.Forward(tgt, memory, tgtMask, memoryMask) : Decoder.Forward(tgt);
    }
}
