namespace Mlx.Nn;

public static partial class Nn
{
    /// <summary>
    /// Rotary positional encoding as mx.fast.rope over the first <paramref name="dims"/> features of the last axis,
    /// positions along the second-to-last axis (offset + t, times <paramref name="scale"/>), frequencies
    /// base^(-2j/dims) (or 1 / <paramref name="freqs"/>, with base null). Traditional rotates consecutive pairs
    /// (x[2j], x[2j+1]); otherwise the halves (x[j], x[j + dims/2]). Features past <paramref name="dims"/> pass through.
    /// </summary>
    public static MxArray Rope(MxArray x, int dims, bool traditional = false, double? @base = 10000, double scale = 1.0, int offset = 0, MxArray? freqs = null) =>
        Rope(x, dims, traditional, @base, scale, Mx.Array(offset), freqs);

    /// <summary>Rope with an integer offset array: a scalar, or one offset per batch element (shape (B,)).</summary>
    public static MxArray Rope(MxArray x, int dims, bool traditional, double? @base, double scale, MxArray offset, MxArray? freqs = null)
    {
        if (x.NDim < 3) throw new ArgumentException($"[rope] Input must have at least 3 dimensions but got input with {x.NDim} dimensions.");
        if (!x.DType.IsFloating()) throw new ArgumentException($"[rope] Input must be a floating type but got {x.DType.Name()}.");
        if (offset.NDim > 1) throw new ArgumentException($"[rope] offset must have at most one dimension but has shape {MxArray.FormatShape(offset.ShapeRef)}.");
        if (offset.Size != 1 && offset.Size != x.ShapeRef[0]) throw new ArgumentException($"[rope] offset must be a scalar or vector with {x.ShapeRef[0]} elements but has shape {MxArray.FormatShape(offset.ShapeRef)}.");
        if (!offset.DType.IsInteger()) throw new ArgumentException($"[rope] offset must be an integer but got type {offset.DType.Name()}.");
        if (dims <= 0 || dims % 2 != 0) throw new ArgumentException($"[rope] dims must be positive and even but got {dims}.");
        if (dims > x.ShapeRef[^1]) throw new ArgumentException($"[rope] dims must not exceed the input's last dimension ({x.ShapeRef[^1]}) but got {dims}.");
        if (freqs is not null && @base is not null) throw new ArgumentException("[rope] Only one of base or freqs can have a value.");
        if (freqs is null && @base is null) throw new ArgumentException("[rope] Neither base nor freqs has a value.");
        if (freqs is not null && (freqs.NDim != 1 || freqs.ShapeRef[0] != dims / 2)) throw new ArgumentException($"[rope] freqs must be one dimensional with size {dims / 2}.");
        var shape = x.Shape;
        // As MLX: (B, T, D) -> (B, 1, T, D); more than 4 dims fold into the heads axis.
        if (x.NDim == 3) x = Mx.ExpandDims(x, 1);
        else if (x.NDim > 4) x = Mx.Flatten(x, 1, x.NDim - 3);
        int half = dims / 2;
        int t = x.ShapeRef[^2];
        var off = Mx.AsType(offset, DType.Int32);
        if (off.Size > 1) off = Mx.Reshape(off, new[] { -1, 1, 1 });
        else off = Mx.Reshape(off, System.Array.Empty<int>());
        var positions = Mx.Multiply(Mx.Add(Mx.Arange(0.0, t, 1, DType.Float32), off), Mx.Array((float)scale));
        var invFreqs = freqs is not null
            ? Mx.Reciprocal(Mx.AsType(freqs, DType.Float32))
            : Mx.Exp(Mx.Multiply(Mx.Arange(0.0, -half, -1, DType.Float32), Mx.Array((float)(Math.Log(@base!.Value) / half))));
        var theta = Mx.Multiply(Mx.ExpandDims(positions, -1), invFreqs);
        var cos = Mx.AsType(Mx.Cos(theta), x.DType);
        var sin = Mx.AsType(Mx.Sin(theta), x.DType);
        int d = x.ShapeRef[^1];
        MxArray x1, x2;
        if (traditional)
        {
            x1 = SliceLast(x, 0, dims, 2);
            x2 = SliceLast(x, 1, dims, 2);
        }
        else
        {
            x1 = SliceLast(x, 0, half, 1);
            x2 = SliceLast(x, half, dims, 1);
        }
        var o1 = Mx.Subtract(Mx.Multiply(x1, cos), Mx.Multiply(x2, sin));
        var o2 = Mx.Add(Mx.Multiply(x1, sin), Mx.Multiply(x2, cos));
        var rotated = traditional ? Mx.Flatten(Mx.Stack(new[] { o1, o2 }, -1), -2, -1) : Mx.Concatenate(new[] { o1, o2 }, -1);
        var result = dims < d ? Mx.Concatenate(new[] { rotated, SliceLast(x, dims, d, 1) }, -1) : rotated;
        return Mx.Reshape(result, shape);
    }

    internal static MxArray SliceLast(MxArray x, int from, int to, int step)
    {
        var start = new int[x.NDim];
        var stop = x.Shape;
        var steps = Enumerable.Repeat(1, x.NDim).ToArray();
        start[^1] = from;
        stop[^1] = to;
        steps[^1] = step;
        return Mx.Slice(x, start, stop, steps);
    }
}

/// <summary>Rotary positional encoding layer (mlx.nn.RoPE); no parameters.</summary>
public sealed class RoPE : Module
{
    public RoPE(int dims, bool traditional = false, double @base = 10000, double scale = 1.0)
    {
        (Dims, Traditional, Base, Scale) = (dims, traditional, @base, scale);
    }

    public int Dims { get; }

    public bool Traditional { get; }

    public double Base { get; }

    public double Scale { get; }

    public override MxArray Forward(MxArray x) => Forward(x, 0);

    public MxArray Forward(MxArray x, int offset) => Nn.Rope(x, Dims, Traditional, Base, Scale, offset);

    /// <summary>Per-batch offsets (B,) or a scalar offset array.</summary>
    public MxArray Forward(MxArray x, MxArray offset) => Nn.Rope(x, Dims, Traditional, Base, Scale, offset);
}

/// <summary>
/// Sinusoidal positional encoding (mlx.nn.SinusoidalPositionalEncoding): x (...) to (..., dims), the sines then the
/// cosines (or the reverse with cosFirst) of x times dims/2 frequencies spaced geometrically from maxFreq down to
/// minFreq, scaled by <c>scale</c> (sqrt(2/dims) by default).
/// </summary>
public sealed class SinusoidalPositionalEncoding : Module
{
    private readonly MxArray _sigmas;
    private readonly double _scale;
    private readonly bool _cosFirst;

    public SinusoidalPositionalEncoding(int dims, double minFreq = 0.0001, double maxFreq = 1, double? scale = null, bool cosFirst = false, bool fullTurns = false)
    {
        if (dims <= 0 || dims % 2 != 0) throw new ArgumentException($"[SinusoidalPositionalEncoding] dims must be positive and even but got {dims}.");
        MxArray oneZero = dims == 2
            ? Mx.Array(new float[] { 1 })
            : Mx.Subtract(1.0, Mx.Divide(Mx.Arange(0.0, dims / 2, 1, DType.Float32), dims / 2 - 1));
        double lmin = Math.Log(minFreq), lmax = Math.Log(maxFreq);
        _sigmas = Mx.Exp(Mx.Add(Mx.Multiply(oneZero, lmax - lmin), lmin));
        if (fullTurns) _sigmas = Mx.Multiply(_sigmas, 2 * Math.PI);
        DisposeScope.Detach(_sigmas);
        _scale = scale ?? Math.Sqrt(2.0 / dims);
        _cosFirst = cosFirst;
    }

    public override MxArray Forward(MxArray x)
    {
        var y = Mx.Multiply(Mx.ExpandDims(x, -1), _sigmas);
        var cos = Mx.Cos(y);
        var sin = Mx.Sin(y);
        y = Mx.Concatenate(_cosFirst ? new[] { cos, sin } : new[] { sin, cos }, -1);
        return _scale != 1 ? Mx.Multiply(y, _scale) : y;
    }
}

/// <summary>Attention with linear biases (mlx.nn.ALiBi): adds -slope_h * |i - j| to attention scores (B, H, L_q, L_k).</summary>
public sealed class ALiBi : Module
{
    public static MxArray CreateAlibiMatrix(int qSequenceLength, int kSequenceLength, int numHeads, int offset, DType dtype = DType.Float32)
    {
        var x1 = Mx.Arange(offset, qSequenceLength);
        var x2 = Mx.Arange(0, kSequenceLength);
        var distance = Mx.Negative(Mx.Abs(Mx.ExpandDims(Mx.Subtract(Mx.ExpandDims(x1, 1), Mx.ExpandDims(x2, 0)), new[] { 0, 1 })));
        var slope = CreateAlibiSlope(numHeads, dtype);
        return Mx.AsType(Mx.Multiply(distance, slope), dtype);
    }

    /// <summary>The head slopes, shape (numHeads, 1, 1): 2^(-8/n · (i+1)) for n a power of two, else MLX's interleaving.</summary>
    public static MxArray CreateAlibiSlope(int numHeads, DType dtype = DType.Float32)
    {
        var slopes = GetSlopes(numHeads);
        return Mx.ExpandDims(Mx.AsType(Mx.Array(slopes.ToArray()), dtype), new[] { -1, -2 });
    }

    private static List<double> GetSlopes(int n)
    {
        double log2 = Math.Log2(n);
        if (log2 == Math.Floor(log2))
        {
            double start = Math.Pow(2, -Math.Pow(2, -(log2 - 3)));
            return Enumerable.Range(0, n).Select(i => start * Math.Pow(start, i)).ToList();
        }
        int closest = 1 << (int)Math.Floor(log2);
        var result = GetSlopes(closest);
        result.AddRange(GetSlopes(2 * closest).Where((_, i) => i % 2 == 0).Take(n - closest));
        return result;
    }

    public override MxArray Forward(MxArray attentionScores) => Forward(attentionScores, 0, null);

    public MxArray Forward(MxArray attentionScores, int offset, MxArray? mask = null)
    {
        var s = attentionScores.ShapeRef;
        var alibi = CreateAlibiMatrix(s[^2] + offset, s[^1], s[1], offset, attentionScores.DType);
        if (mask is not null) alibi = Mx.Add(alibi, mask);
        return Mx.Add(attentionScores, alibi);
    }
}
