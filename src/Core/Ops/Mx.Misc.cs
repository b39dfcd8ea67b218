namespace Mlx;

public static partial class Mx
{
    public static MxArray AsArray<T>(T[] data, DType? dtype = null) where T : unmanaged => Array(data, dtype);

    public static MxArray Concat(MxArray[] arrays, int axis = 0, StreamOrDevice? stream = null) => Concatenate(arrays, axis, stream);

    public static MxArray Conj(MxArray a, StreamOrDevice? stream = null) => Conjugate(a, stream);

    public static MxArray PermuteDims(MxArray a, int[]? axes = null, StreamOrDevice? stream = null) => Transpose(a, axes, stream);

    public static MxArray Positive(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a;
    }

    /// <summary>Rounds toward zero.</summary>
    public static MxArray Trunc(MxArray a, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return a.DType.IsInexact() ? Where(Less(a, 0), Ceil(a), Floor(a)) : a;
    }

    public static int[] BroadcastShapes(params int[][] shapes) => shapes.Aggregate(System.Array.Empty<int>(), Shapes.Broadcast);

    /// <summary>The dtype a binary op of these arrays produces (C# scalars count as weak, as in MLX).</summary>
    public static DType ResultType(params MxArray[] arrays)
    {
        if (arrays.Length == 0) throw new ArgumentException("result_type needs at least one array.");
        // Strong (array) dtypes promote among themselves; weak C# scalars then adapt to that result.
        var strong = arrays.Where(a => !a.IsWeak).Select(a => a.DType).ToList();
        var weak = arrays.Where(a => a.IsWeak).Select(a => a.DType).ToList();
        if (strong.Count == 0) return weak.Aggregate(DTypes.Promote);
        var dt = strong.Aggregate(DTypes.Promote);
        foreach (var w in weak) dt = WeakResult(w, dt);
        return dt;
    }

    /// <summary>Whether <paramref name="from"/> converts to <paramref name="to"/> without loss under the promotion lattice.</summary>
    public static bool CanCast(DType from, DType to) => DTypes.Promote(from, to) == to;

    public static bool IsSubDType(DType a, DType b) => a == b;

    public static MxArray CountNonzero(MxArray a, int[]? axes = null, bool keepDims = false, StreamOrDevice? stream = null) =>
        Sum(NotEqual(a, Zeros(System.Array.Empty<int>(), a.DType)), axes, keepDims, stream);

    /// <summary>The n-th discrete difference along <paramref name="axis"/>.</summary>
    public static MxArray Diff(MxArray a, int n = 1, int axis = -1, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        for (int i = 0; i < n; i++)
        {
            int len = a.ShapeRef[ax];
            if (len == 0) break;
            var head = Split(a, new[] { len - 1 }, ax)[0];
            a = Subtract(Split(a, new[] { 1 }, ax)[1], head);
        }
        return a;
    }

    /// <summary>Reverses the order of elements along the given axes (all when null): a view.</summary>
    public static MxArray Flip(MxArray a, int[]? axes = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var ax = Shapes.Axes(axes, a.NDim);
        var start = new int[a.NDim];
        var stop = (int[])a.ShapeRef.Clone();
        var step = Enumerable.Repeat(1, a.NDim).ToArray();
        foreach (int i in ax)
        {
            start[i] = a.ShapeRef[i] - 1;
            stop[i] = -1;
            step[i] = -1;
        }
        return SliceRaw(a, start, stop, step);
    }

    /// <summary>The Kronecker product.</summary>
    public static MxArray Kron(MxArray a, MxArray b, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int nd = Math.Max(a.NDim, b.NDim);
        var ax = Reshape(a, Enumerable.Repeat(1, nd - a.NDim).Concat(a.ShapeRef).ToArray());
        var bx = Reshape(b, Enumerable.Repeat(1, nd - b.NDim).Concat(b.ShapeRef).ToArray());
        var aShape = new List<int>();
        var bShape = new List<int>();
        for (int i = 0; i < nd; i++)
        {
            aShape.Add(ax.ShapeRef[i]);
            aShape.Add(1);
            bShape.Add(1);
            bShape.Add(bx.ShapeRef[i]);
        }
        var prod = Multiply(Reshape(ax, aShape.ToArray()), Reshape(bx, bShape.ToArray()));
        return Reshape(prod, Enumerable.Range(0, nd).Select(i => ax.ShapeRef[i] * bx.ShapeRef[i]).ToArray());
    }

    /// <summary>Splits along <paramref name="axis"/> into arrays without that axis.</summary>
    public static MxArray[] Unstack(MxArray a, int axis = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int ax = Shapes.Axis(axis, a.NDim);
        if (a.ShapeRef[ax] == 0) return System.Array.Empty<MxArray>();
        return Split(a, a.ShapeRef[ax], ax).Select(p => Squeeze(p, ax)).ToArray();
    }

    /// <summary>Sum of conj(a) * b over <paramref name="axis"/>.</summary>
    public static MxArray Vecdot(MxArray a, MxArray b, int axis = -1, StreamOrDevice? stream = null) =>
        Sum(Multiply(Conjugate(a), b), axis, stream: stream);

    /// <summary>1-D convolution of two vectors in NumPy's modes "full", "same" and "valid".</summary>
    public static MxArray Convolve(MxArray a, MxArray v, string mode = "full", StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (a.NDim != 1 || v.NDim != 1) throw new ArgumentException("convolve needs two 1-D arrays.");
        if (v.Size > a.Size) (a, v) = (v, a);
        int n = (int)a.Size, m = (int)v.Size;
        int pad = mode switch { "full" => m - 1, "same" => m / 2, "valid" => 0, _ => throw new ArgumentException($"Unknown convolve mode '{mode}'.") };
        int padHigh = mode == "same" ? m - 1 - pad : pad;
        var input = Reshape(a, new[] { 1, n, 1 });
        var kernel = Reshape(Flip(v), new[] { 1, m, 1 });
        var r = ConvGeneral(input, kernel, null, new[] { (pad, padHigh) });
        return Reshape(r, new[] { -1 });
    }

    private static MxArray Window(int m, Func<int, double> f)
    {
        if (m <= 0) return Zeros(new[] { 0 });
        if (m == 1) return Ones(new[] { 1 });
        return Array(Enumerable.Range(0, m).Select(f).ToArray(), new[] { m }, DType.Float32);
    }

    public static MxArray Hanning(int m, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Window(m, n => 0.5 - 0.5 * Math.Cos(2 * Math.PI * n / (m - 1)));
    }

    public static MxArray Hamming(int m, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Window(m, n => 0.54 - 0.46 * Math.Cos(2 * Math.PI * n / (m - 1)));
    }

    public static MxArray Blackman(int m, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Window(m, n => 0.42 - 0.5 * Math.Cos(2 * Math.PI * n / (m - 1)) + 0.08 * Math.Cos(4 * Math.PI * n / (m - 1)));
    }

    public static MxArray Bartlett(int m, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        return Window(m, n => 1 - Math.Abs(2.0 * n / (m - 1) - 1));
    }
}
