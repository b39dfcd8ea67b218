namespace Mlx;

public static partial class Mx
{
    /// <summary>An array of <paramref name="shape"/> filled with <paramref name="vals"/> (broadcast), in <paramref name="dtype"/> or vals' dtype.</summary>
    public static MxArray Full(int[] shape, MxArray vals, DType? dtype = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        Shapes.CheckedSize(shape);
        var dt = dtype ?? vals.DType;
        var b = BroadcastTo(vals, (int[])shape.Clone());
        return MxArray.Create((int[])shape.Clone(), dt, new AsTypePrimitive(dt), b);
    }

    public static MxArray Full(int[] shape, double value, DType dtype = DType.Float32, StreamOrDevice? stream = null) =>
        Full(shape, Array(value, DType.Float64), dtype, stream);

    public static MxArray Zeros(int[] shape, DType dtype = DType.Float32, StreamOrDevice? stream = null) => Full(shape, 0.0, dtype, stream);

    public static MxArray Ones(int[] shape, DType dtype = DType.Float32, StreamOrDevice? stream = null) => Full(shape, 1.0, dtype, stream);

    public static MxArray ZerosLike(MxArray a, StreamOrDevice? stream = null) => Zeros(a.ShapeRef, a.DType, stream);

    public static MxArray OnesLike(MxArray a, StreamOrDevice? stream = null) => Ones(a.ShapeRef, a.DType, stream);

    public static MxArray FullLike(MxArray a, double value, StreamOrDevice? stream = null) => Full(a.ShapeRef, value, a.DType, stream);

    /// <summary>Values start, start+step, ... below stop. Integer arguments give int32, as MLX.</summary>
    public static MxArray Arange(double start, double stop, double step = 1, DType? dtype = null, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (step == 0 || double.IsNaN(step)) throw new ArgumentException("arange: step must be non-zero.");
        double count = Math.Ceiling((stop - start) / step);
        if (double.IsNaN(count) || double.IsInfinity(count)) throw new ArgumentException("arange: the number of elements is not finite.");
        long n = Math.Max(0L, (long)count);
        if (n > int.MaxValue) throw new OverflowException($"arange would create {n} elements, more than an int32 dimension holds.");
        var dt = dtype ?? DType.Float32;
        if (dt.IsInteger())
        {
            // MLX computes in the target type: start and start + step truncate first, so arange(0, 3, 0.2, int32)
            // is fifteen zeros and arange(-1, -20, -1.2, int32) counts down by 1.
            long s0 = (long)start, st = (long)(start + step) - s0;
            var ints = new long[n];
            for (long i = 0; i < n; i++) ints[i] = s0 + i * st;
            return AsType(Array(ints, new[] { (int)n }), dt);
        }
        var values = new double[n];
        for (long i = 0; i < n; i++) values[i] = start + i * step;
        return AsType(Array(values, new[] { (int)n }, DType.Float64), dt);
    }

    public static MxArray Arange(double stop, DType? dtype = null, StreamOrDevice? stream = null) =>
        Arange(0, stop, 1, dtype, stream: stream);

    public static MxArray Arange(int start, int stop, int step = 1, DType dtype = DType.Int32, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (step == 0) throw new ArgumentException("arange: step must be non-zero.");
        long n = Math.Max(0L, ((long)stop - start + step + (step > 0 ? -1 : 1)) / step);
        var values = new long[n];
        for (long i = 0; i < n; i++) values[i] = start + i * (long)step;
        return AsType(Array(values, new[] { (int)n }), dtype);
    }

    public static MxArray Arange(int stop, DType dtype = DType.Int32, StreamOrDevice? stream = null) =>
        Arange(0, stop, 1, dtype, stream: stream);

    public static MxArray Linspace(double start, double stop, int num = 50, DType dtype = DType.Float32, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (num < 0) throw new ArgumentException("linspace: num must be non-negative.");
        var values = new double[num];
        double delta = num > 1 ? (stop - start) / (num - 1) : 0;
        for (int i = 0; i < num; i++) values[i] = start + i * delta;
        if (num > 1) values[^1] = stop;
        return AsType(Array(values, new[] { num }), dtype);
    }

    /// <summary>Ones on the k-th diagonal of an n x m matrix.</summary>
    public static MxArray Eye(int n, int? m = null, int k = 0, DType dtype = DType.Float32, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        int cols = m ?? n;
        var rows = ExpandDims(Arange(0, n), 1);
        var c = ExpandDims(Arange(0, cols), 0);
        return AsType(Equal(Subtract(c, rows), Array(k)), dtype);
    }

    public static MxArray Identity(int n, DType dtype = DType.Float32, StreamOrDevice? stream = null) =>
        Eye(n, dtype: dtype, stream: stream);

    /// <summary>Ones at and below the k-th diagonal.</summary>
    public static MxArray Tri(int n, int? m = null, int k = 0, DType dtype = DType.Float32, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        var rows = ExpandDims(Arange(0, n), 1);
        var c = ExpandDims(Arange(0, m ?? n), 0);
        return AsType(LessEqual(c, Add(rows, Array(k))), dtype);
    }

    public static MxArray Tril(MxArray x, int k = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (x.NDim < 2) throw new ArgumentException("tril needs at least 2 dimensions.");
        var mask = Tri(x.ShapeRef[^2], x.ShapeRef[^1], k, DType.Bool);
        return Where(mask, x, Zeros(System.Array.Empty<int>(), x.DType));
    }

    public static MxArray Triu(MxArray x, int k = 0, StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (x.NDim < 2) throw new ArgumentException("triu needs at least 2 dimensions.");
        var mask = Tri(x.ShapeRef[^2], x.ShapeRef[^1], k - 1, DType.Bool);
        return Where(mask, Zeros(System.Array.Empty<int>(), x.DType), x);
    }

    /// <summary>Coordinate grids; "xy" (Cartesian, the default) swaps the first two outputs' axes, as NumPy.</summary>
    public static MxArray[] Meshgrid(MxArray[] arrays, bool sparse = false, string indexing = "xy", StreamOrDevice? stream = null)
    {
        using var placement = Place(stream);
        if (indexing is not ("xy" or "ij")) throw new ArgumentException("meshgrid indexing must be 'xy' or 'ij'.");
        int n = arrays.Length;
        var result = new MxArray[n];
        for (int i = 0; i < n; i++)
        {
            var shape = Enumerable.Repeat(1, n).ToArray();
            shape[i] = (int)arrays[i].Size;
            if (indexing == "xy" && n >= 2 && i < 2)
            {
                shape[i] = 1;
                shape[1 - i] = (int)arrays[i].Size;
            }
            result[i] = Reshape(arrays[i], shape);
        }
        if (!sparse)
        {
            result = BroadcastArrays(result).Select(r => Contiguous(r)).ToArray();
        }
        return result;
    }
}
