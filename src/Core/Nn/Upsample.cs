namespace Mlx.Nn;

/// <summary>
/// Upsampling of the spatial axes of (N, *spatial, C) inputs as mlx.nn.Upsample: <c>mode</c> "nearest", "linear"
/// (multilinear) or "cubic" (a = -0.75), <c>alignCorners</c> for linear and cubic, and <c>antialias</c> (a widened
/// triangle or a = -0.5 cubic filter, for downscaling). One scale factor for every spatial axis, or one per axis.
/// The sampling positions are computed in float32 as MLX computes them.
/// </summary>
public sealed class Upsample : Module
{
    private readonly double[]? _scales;
    private readonly double _scale;

    public Upsample(double scaleFactor, string mode = "nearest", bool alignCorners = false, bool antialias = false)
        : this(null, scaleFactor, mode, alignCorners, antialias) { }

    public Upsample(double[] scaleFactor, string mode = "nearest", bool alignCorners = false, bool antialias = false)
        : this(scaleFactor, 0, mode, alignCorners, antialias) { }

    private Upsample(double[]? scales, double scale, string mode, bool alignCorners, bool antialias)
    {
        if (mode is not ("nearest" or "linear" or "cubic")) throw new ArgumentException($"[Upsample] Got unsupported upsampling algorithm: {mode}");
        if (antialias && mode == "nearest") throw new ArgumentException("[Upsample] Antialiasing is not supported for nearest neighbor upsampling");
        if (antialias && alignCorners)
        {
            throw new ArgumentException("[Upsample] antialias=True with align_corners=True is not supported. Use align_corners=False for antialiased interpolation.");
        }
        (_scales, _scale, Mode, AlignCorners, Antialias) = (scales is null ? null : (double[])scales.Clone(), scale, mode, alignCorners, antialias);
    }

    public string Mode { get; }

    public bool AlignCorners { get; }

    public bool Antialias { get; }

    public override MxArray Forward(MxArray x)
    {
        int dims = x.NDim - 2;
        if (dims <= 0)
        {
            throw new ArgumentException($"[Upsample] The input should have at least 1 spatial dimension which means it should be at least 3D but {x.NDim}D was provided");
        }
        double[] scales;
        if (_scales is not null)
        {
            if (_scales.Length != dims)
            {
                throw new ArgumentException($"[Upsample] One scale per spatial dimension is required but scale_factor has {_scales.Length} and the number of spatial dimensions were {dims}");
            }
            scales = _scales;
        }
        else
        {
            scales = Enumerable.Repeat(_scale, dims).ToArray();
        }
        return Mode switch
        {
            "nearest" => Nn.UpsampleNearest(x, scales),
            "linear" => Nn.UpsampleLinear(x, scales, AlignCorners, Antialias),
            _ => Nn.UpsampleCubic(x, scales, AlignCorners, Antialias),
        };
    }
}

public static partial class Nn
{
    public static MxArray UpsampleNearest(MxArray x, double[] scaleFactor)
    {
        int dims = x.NDim - 2;
        if (dims != scaleFactor.Length) throw new ArgumentException("A scale needs to be provided for each spatial dimension");
        if (scaleFactor.All(s => s == Math.Floor(s)))
        {
            // Integer scales: broadcast a new axis after each spatial axis and merge.
            var shape = new List<int>(x.Shape);
            for (int d = 0; d < dims; d++) shape.Insert(2 + 2 * d, 1);
            x = Mx.Reshape(x, shape.ToArray());
            for (int d = 0; d < dims; d++) shape[2 + 2 * d] = (int)scaleFactor[d];
            x = Mx.BroadcastTo(x, shape.ToArray());
            var merged = x.Shape.ToList();
            for (int d = 0; d < dims; d++)
            {
                merged[d + 1] *= merged[d + 2];
                merged.RemoveAt(d + 2);
            }
            return Mx.Reshape(x, merged.ToArray());
        }
        for (int d = 0; d < dims; d++)
        {
            int n = x.ShapeRef[1 + d];
            x = Mx.Take(x, Mx.Array(NearestIndices(n, scaleFactor[d])), 1 + d);
        }
        return x;
    }

    public static MxArray UpsampleLinear(MxArray x, double[] scaleFactor, bool alignCorners = false, bool antialias = false) =>
        Interpolate(x, scaleFactor, alignCorners, antialias, antialias ? (n, s, a) => AntialiasTaps(n, s, a, Triangle, 1.0) : LinearTaps);

    public static MxArray UpsampleCubic(MxArray x, double[] scaleFactor, bool alignCorners = false, bool antialias = false) =>
        Interpolate(x, scaleFactor, alignCorners, antialias, antialias ? (n, s, a) => AntialiasTaps(n, s, a, CubicAa, 2.0) : CubicTaps);

    private static MxArray Interpolate(MxArray x, double[] scaleFactor, bool alignCorners, bool antialias, Func<int, double, bool, List<(int[] Index, float[] Weight)>> taps)
    {
        int dims = x.NDim - 2;
        if (dims != scaleFactor.Length) throw new ArgumentException("A scale needs to be provided for each spatial dimension");
        if (antialias && alignCorners) throw new ArgumentException("[Upsample] antialias=True with align_corners=True is not supported.");
        // Multilinear / multicubic interpolation is separable: one axis at a time.
        var wdt = x.DType == DType.Float64 ? DType.Float64 : DType.Float32;
        for (int d = 0; d < dims; d++)
        {
            int n = x.ShapeRef[1 + d];
            MxArray? sum = null;
            foreach (var (index, weight) in taps(n, scaleFactor[d], alignCorners))
            {
                var wshape = Enumerable.Repeat(1, x.NDim).ToArray();
                wshape[1 + d] = weight.Length;
                var w = Mx.AsType(Mx.Array(weight, wshape), wdt);
                var term = Mx.Multiply(Mx.Take(x, Mx.Array(index), 1 + d), w);
                sum = sum is null ? term : Mx.Add(sum, term);
            }
            x = sum!;
        }
        return x;
    }

    private static int[] NearestIndices(int n, double scale)
    {
        int m = (int)(scale * n);
        var idx = new int[m];
        float ratio = (float)((double)n / m);
        for (int i = 0; i < m; i++)
        {
            float v = m > n ? MathF.Round(((float)i + 0.5f) * ratio - 0.5f, MidpointRounding.ToEven) : (float)i * ratio;
            idx[i] = (int)v;
        }
        return idx;
    }

    /// <summary>The float32 source positions of the m = int(scale * n) outputs.</summary>
    private static float[] ScaledIndices(int n, double scale, bool alignCorners)
    {
        int m = (int)(scale * n);
        var r = new float[m];
        if (alignCorners)
        {
            float f = (float)((n - 1) / (double)Math.Max(m - 1, 1));
            for (int i = 0; i < m; i++) r[i] = i * f;
        }
        else
        {
            double step = 1 / scale;
            double start = ((m - 1) * step - n + 1) / 2;
            float fs = (float)step, f0 = (float)start;
            for (int i = 0; i < m; i++) r[i] = i * fs - f0;
        }
        return r;
    }

    private static List<(int[] Index, float[] Weight)> LinearTaps(int n, double scale, bool alignCorners)
    {
        var pos = ScaledIndices(n, scale, alignCorners);
        int m = pos.Length;
        var (l, r, wl, wr) = (new int[m], new int[m], new float[m], new float[m]);
        for (int i = 0; i < m; i++)
        {
            float p = Math.Clamp(pos[i], 0f, n - 1);
            float fl = MathF.Floor(p);
            l[i] = (int)fl;
            r[i] = (int)MathF.Ceiling(p);
            wr[i] = p - fl;
            wl[i] = 1 - wr[i];
        }
        return new() { (l, wl), (r, wr) };
    }

    private static List<(int[] Index, float[] Weight)> CubicTaps(int n, double scale, bool alignCorners)
    {
        var pos = ScaledIndices(n, scale, alignCorners);
        int m = pos.Length;
        var result = new List<(int[], float[])>();
        // Taps floor(p), floor(p + 1), floor(p) - 1, floor(p + 1) + 1 (MLX's order), clamped to the border.
        for (int tap = 0; tap < 4; tap++)
        {
            var idx = new int[m];
            var w = new float[m];
            for (int i = 0; i < m; i++)
            {
                float p = pos[i];
                float g = tap switch
                {
                    0 => MathF.Floor(p),
                    1 => MathF.Floor(p + 1),
                    2 => MathF.Floor(p) - 1,
                    _ => MathF.Floor(p + 1) + 1,
                };
                float xd = MathF.Abs(p - g);
                const float a = -0.75f;
                w[i] = tap < 2 ? ((a + 2.0f) * xd - (a + 3.0f)) * xd * xd + 1 : (((xd - 5) * xd + 8) * xd - 4) * a;
                idx[i] = (int)Math.Clamp(g, 0f, n - 1);
            }
            result.Add((idx, w));
        }
        return result;
    }

    private static float Triangle(float x) => MathF.Max(1.0f - x, 0.0f);

    private static float CubicAa(float x)
    {
        const float a = -0.5f;
        float inner = ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1;
        float outer = (((x - 5) * x + 8) * x - 4) * a;
        return x <= 1.0f ? inner : x <= 2.0f ? outer : 0.0f;
    }

    private static List<(int[] Index, float[] Weight)> AntialiasTaps(int n, double scale, bool alignCorners, Func<float, float> kernel, double radius)
    {
        var pos = ScaledIndices(n, scale, alignCorners);
        int m = pos.Length;
        double invScale = scale < 1 ? 1.0 / scale : 1.0;
        float inv = (float)invScale;
        int numTaps = (int)Math.Ceiling(radius * invScale) + 1;
        var idxs = new List<float[]>();
        var ws = new List<float[]>();
        for (int k = -numTaps + 1; k < numTaps; k++)
        {
            var idx = new float[m];
            var w = new float[m];
            for (int i = 0; i < m; i++)
            {
                idx[i] = MathF.Floor(pos[i]) + k;
                float dist = MathF.Abs(pos[i] - idx[i]) / inv;
                w[i] = idx[i] >= 0 && idx[i] < n ? kernel(dist) : 0f;
            }
            idxs.Add(idx);
            ws.Add(w);
        }
        var sum = new float[m];
        foreach (var w in ws) for (int i = 0; i < m; i++) sum[i] += w[i];
        var result = new List<(int[], float[])>();
        for (int t = 0; t < idxs.Count; t++)
        {
            var idx = new int[m];
            var w = new float[m];
            for (int i = 0; i < m; i++)
            {
                w[i] = ws[t][i] / (sum[i] > 0 ? sum[i] : 1.0f);
                idx[i] = (int)Math.Clamp(idxs[t][i], 0f, n - 1);
            }
            result.Add((idx, w));
        }
        return result;
    }
}
