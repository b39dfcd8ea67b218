namespace Mlx.Nn;

/// <summary>How a layer's weight is quantized: group size, bits and mode, as mlx.nn.QuantizedLinear's arguments.</summary>
public sealed record QuantizationSpec(int GroupSize = 64, int Bits = 4, QuantizationMode Mode = QuantizationMode.Affine);

/// <summary>
/// A linear layer with a quantized weight, as mlx.nn.QuantizedLinear: y = x W^T + b through
/// <see cref="Mx.QuantizedMatmul"/>, parameters weight (uint32 codes), scales, biases (affine) and bias, all frozen
/// (they stay frozen through Unfreeze; train adapters beside them instead).
/// </summary>
public sealed class QuantizedLinear : Module
{
    public QuantizedLinear(int inputDims, int outputDims, bool bias = true, int groupSize = 64, int bits = 4, QuantizationMode mode = QuantizationMode.Affine)
        : this(new Linear(inputDims, outputDims, bias), new QuantizationSpec(groupSize, bits, mode))
    {
    }

    private QuantizedLinear(Linear source, QuantizationSpec spec)
    {
        var p = source.Parameters();
        QuantizeWeight(p["weight"], spec);
        if (p.TryGetValue("bias", out var bias)) Param("bias", bias);
        Freeze(recurse: false);
    }

    /// <summary>A quantized copy of <paramref name="linear"/> (mlx.nn.QuantizedLinear.from_linear).</summary>
    public static QuantizedLinear FromLinear(Linear linear, int groupSize = 64, int bits = 4, QuantizationMode mode = QuantizationMode.Affine) =>
        new(linear, new QuantizationSpec(groupSize, bits, mode));

    public QuantizationSpec Spec => QuantizedAs!;

    public override MxArray Forward(MxArray x) =>
        Apply(x, P("weight"), P("scales"), Biases, HasParam("bias") ? P("bias") : null, Spec);

    internal static MxArray Apply(MxArray x, MxArray weight, MxArray scales, MxArray? biases, MxArray? bias, QuantizationSpec spec)
    {
        var y = Mx.QuantizedMatmul(x, weight, scales, biases, true, spec.GroupSize, spec.Bits, spec.Mode);
        return bias is null ? y : Mx.Add(y, bias);
    }
}

/// <summary>
/// An embedding table stored quantized, as mlx.nn.QuantizedEmbedding: rows are dequantized as they are looked up, and
/// <see cref="AsLinear"/> multiplies by the table without expanding it. Parameters weight, scales, biases, frozen.
/// </summary>
public sealed class QuantizedEmbedding : Module
{
    public QuantizedEmbedding(int numEmbeddings, int dims, int groupSize = 64, int bits = 4, QuantizationMode mode = QuantizationMode.Affine)
        : this(new Embedding(numEmbeddings, dims), new QuantizationSpec(groupSize, bits, mode))
    {
    }

    private QuantizedEmbedding(Embedding source, QuantizationSpec spec)
    {
        QuantizeWeight(source.Parameters()["weight"], spec);
        Freeze(recurse: false);
    }

    /// <summary>A quantized copy of <paramref name="embedding"/> (mlx.nn.QuantizedEmbedding.from_embedding).</summary>
    public static QuantizedEmbedding FromEmbedding(Embedding embedding, int groupSize = 64, int bits = 4, QuantizationMode mode = QuantizationMode.Affine) =>
        new(embedding, new QuantizationSpec(groupSize, bits, mode));

    public QuantizationSpec Spec => QuantizedAs!;

    public override MxArray Forward(MxArray x) => Lookup(x, P("weight"), P("scales"), Biases, Spec);

    /// <summary>x times the table's transpose (a tied output projection).</summary>
    public MxArray AsLinear(MxArray x) => QuantizedLinear.Apply(x, P("weight"), P("scales"), Biases, null, Spec);

    internal static MxArray Lookup(MxArray ids, MxArray weight, MxArray scales, MxArray? biases, QuantizationSpec spec)
    {
        var rows = Mx.Take(weight, ids, 0);
        return Mx.Dequantize(rows, Mx.Take(scales, ids, 0), biases is null ? null : Mx.Take(biases, ids, 0), spec.GroupSize, spec.Bits, spec.Mode,
            dtype: spec.Mode == QuantizationMode.Affine ? null : DType.Float32);
    }
}

public static partial class Nn
{
    /// <summary>
    /// Quantizes, in place, every <see cref="Linear"/> and <see cref="Embedding"/> of <paramref name="model"/> for
    /// which <paramref name="predicate"/>(dotted path, module) holds (default: all of them), as mlx.nn.quantize. The
    /// parameter names become those of an MLX-quantized checkpoint (weight, scales, biases), so weights saved by MLX
    /// load into the quantized model with LoadWeights. Returns the model.
    /// </summary>
    public static Module Quantize(Module model, int groupSize = 64, int bits = 4, QuantizationMode mode = QuantizationMode.Affine,
        Func<string, Module, bool>? predicate = null)
    {
        var spec = new QuantizationSpec(groupSize, bits, mode);
        return Quantize(model, (path, m) => predicate?.Invoke(path, m) ?? true ? spec : null);
    }

    /// <summary>
    /// As <see cref="Quantize(Module, int, int, QuantizationMode, Func{string, Module, bool}?)"/> with settings per
    /// layer, as MLX's class_predicate returning a dict: <paramref name="spec"/>(dotted path, module) gives the group
    /// size, bits and mode of each Linear and Embedding, or null to leave it in floating point (for example 8 bits for
    /// the embedding and 4 for the rest).
    /// </summary>
    public static Module Quantize(Module model, Func<string, Module, QuantizationSpec?> spec)
    {
        void Visit(string path, Module m)
        {
            if ((m is Linear || m is Embedding) && spec(path, m) is QuantizationSpec s)
            {
                try
                {
                    m.QuantizeOwnWeight(s);
                }
                catch (ArgumentException e)
                {
                    throw new ArgumentException($"Layer '{path}': {e.Message}", e);
                }
            }
            foreach (var (name, child) in m.Children())
            {
                Visit(path.Length == 0 ? name : path + "." + name, child);
            }
        }
        Visit("", model);
        return model;
    }
}
