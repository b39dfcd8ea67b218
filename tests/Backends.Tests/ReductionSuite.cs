using static Mlx.Backends.Tests.IntegerTypes;

namespace Mlx.Backends.Tests;

/// <summary>
/// Reductions, arg-reductions, scans and softmax on one backend, checked against plain loops in double or exact
/// integer arithmetic written here: odd sizes, empty arrays, several axes, transposed, negative-step and broadcast
/// inputs, NaN propagation, every dtype the op takes.
/// </summary>
public abstract class ReductionSuite
{
    protected abstract Device Device { get; }

    private static readonly DType[] FloatTypes = { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 };

    private static readonly DType[] IntTypes = { DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64 };

    // ------------------------------------------------------------------ references

    private static long Count(int[] shape) => shape.Aggregate(1L, (p, d) => p * d);

    /// <summary>Reduces row-major <paramref name="x"/> of <paramref name="shape"/> over <paramref name="axes"/> (kept as size 1).</summary>
    private static T[] ReduceRef<T>(T[] x, int[] shape, int[] axes, T identity, Func<T, T, T> f)
    {
        var kept = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var o = Enumerable.Repeat(identity, (int)Count(kept)).ToArray();
        var idx = new int[shape.Length];
        for (long i = 0; i < x.Length; i++)
        {
            long rem = i;
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                idx[d] = (int)(rem % shape[d]);
                rem /= shape[d];
            }
            long oi = 0;
            for (int d = 0; d < shape.Length; d++)
            {
                oi = oi * kept[d] + (axes.Contains(d) ? 0 : idx[d]);
            }
            o[oi] = f(o[oi], x[i]);
        }
        return o;
    }

    private static double NanMax(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(a, b);

    private static double NanMin(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Min(a, b);

    private static (double Identity, Func<double, double, double> F) FloatOp(ReduceOp op) => op switch
    {
        ReduceOp.Sum => (0.0, (a, b) => a + b),
        ReduceOp.Prod => (1.0, (a, b) => a * b),
        ReduceOp.Max => (double.NegativeInfinity, NanMax),
        _ => (double.PositiveInfinity, NanMin),
    };

    private MxArray Reduce(ReduceOp op, MxArray a, int[] axes) => op switch
    {
        ReduceOp.Sum => Mx.Sum(a, axes, keepDims: true, stream: Device),
        ReduceOp.Prod => Mx.Prod(a, axes, keepDims: true, stream: Device),
        ReduceOp.Max => Mx.Max(a, axes, keepDims: true, stream: Device),
        ReduceOp.Min => Mx.Min(a, axes, keepDims: true, stream: Device),
        ReduceOp.And => Mx.All(a, axes, keepDims: true, stream: Device),
        _ => Mx.Any(a, axes, keepDims: true, stream: Device),
    };

    /// <summary>A (d0, d1, d2) array held transposed in memory: logical element (i, j, k) is stored at (k, j, i).</summary>
    private static MxArray Transposed3(double[] logical, int d0, int d1, int d2, DType t)
    {
        var stored = new double[logical.Length];
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++)
                for (int k = 0; k < d2; k++)
                    stored[(k * d1 + j) * d0 + i] = logical[(i * d1 + j) * d2 + k];
        return Mx.Transpose(Mx.Array(stored, new[] { d2, d1, d0 }, t), new[] { 2, 1, 0 });
    }

    private static (double Rtol, double Atol) FloatTol(DType t, int terms)
    {
        var (rtol, atol) = H.Tol(t);
        // float32 sums of up to ~1000 terms of magnitude 2: a tree and a sequential order differ by ~n eps.
        return t == DType.Float32 ? (2e-5, 1e-7 * Math.Max(terms, 10)) : (rtol, Math.Max(atol, 1e-14 * terms));
    }

    // ------------------------------------------------------------------ reductions over floats

    public static IEnumerable<object[]> FloatReduceCases() =>
        from op in new[] { ReduceOp.Sum, ReduceOp.Prod, ReduceOp.Max, ReduceOp.Min }
        from t in FloatTypes
        select new object[] { op, t };

    [Theory]
    [MemberData(nameof(FloatReduceCases))]
    public void FloatReductions(ReduceOp op, DType t)
    {
        var (identity, f) = FloatOp(op);
        // Products of values near 1 stay finite; the others span [-2, 2).
        double lo = op == ReduceOp.Prod ? 0.95 : -2, hi = op == ReduceOp.Prod ? 1.05 : 2;
        void Check(double[] logical, int[] shape, int[] axes, MxArray a, string what)
        {
            var (rtol, atol) = FloatTol(t, (int)Math.Max(1, logical.Length));
            var want = H.RoundTo(ReduceRef(logical, shape, axes, identity, f), t);
            var got = Reduce(op, a, axes);
            Assert.Equal(shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray(), got.Shape);
            H.Close(want, got, rtol, atol, $"{op} {t.Name()} {what}");
        }
        foreach (int n in new[] { 1, 7, 33, 1023 })
        {
            var x = H.RoundTo(H.Rand(n, n, lo, hi), t);
            Check(x, new[] { n }, new[] { 0 }, Mx.Array(x, new[] { n }, t), $"n={n}");
        }
        var m = H.RoundTo(H.Rand(33 * 7, 5, lo, hi), t);
        var shape = new[] { 33, 7 };
        foreach (var axes in new[] { new[] { 0 }, new[] { 1 }, new[] { 0, 1 } })
        {
            Check(m, shape, axes, Mx.Array(m, shape, t), $"(33, 7) axes {string.Join(",", axes)}");
            Check(m, shape, axes, H.TransposedView(m, 33, 7, t), $"transposed axes {string.Join(",", axes)}");
        }
        // Long rows across the kept axis (a group per output) and down a column.
        var wide = H.RoundTo(H.Rand(3 * 300, 6, lo, hi), t);
        Check(wide, new[] { 3, 300 }, new[] { 1 }, Mx.Array(wide, new[] { 3, 300 }, t), "(3, 300) axis 1");
        Check(wide, new[] { 300, 3 }, new[] { 0 }, Mx.Array(wide, new[] { 300, 3 }, t), "(300, 3) axis 0");
        // Long rows of a wider array: rows at multiples of four with a partial last quad (columns 0..36 of 40), and
        // rows off that alignment (columns 1..37).
        var wider = H.RoundTo(H.Rand(4 * 40, 11, lo, hi), t);
        foreach (int from in new[] { 0, 1 })
        {
            var cols = Enumerable.Range(0, 4).SelectMany(r => wider.Skip(r * 40 + from).Take(37)).ToArray();
            Check(cols, new[] { 4, 37 }, new[] { 1 }, Mx.Array(wider, new[] { 4, 40 }, t)[.., Idx.Slice(from, from + 37)], $"columns {from}..{from + 36} axis 1");
        }
        var cube = H.RoundTo(H.Rand(5 * 6 * 7, 7, lo, hi), t);
        Check(cube, new[] { 5, 6, 7 }, new[] { 0, 2 }, Transposed3(cube, 5, 6, 7, t), "transposed (5, 6, 7) axes 0,2");
        Check(cube, new[] { 5, 6, 7 }, new[] { 1 }, Transposed3(cube, 5, 6, 7, t), "transposed (5, 6, 7) axis 1");
        // A negative-step view, and a broadcast (stride 0) input.
        var v = H.RoundTo(H.Rand(40, 8, lo, hi), t);
        Check(v, new[] { 40 }, new[] { 0 }, Mx.Array(v.Reverse().ToArray(), new[] { 40 }, t)[Idx.Slice(null, null, -1)], "reversed");
        // Every other element: strided rows, split into parts when there are few outputs.
        var pairs = H.RoundTo(H.Rand(600, 10, lo, hi), t);
        Check(pairs.Where((_, i) => i % 2 == 0).ToArray(), new[] { 300 }, new[] { 0 }, Mx.Array(pairs, new[] { 600 }, t)[Idx.Slice(null, null, 2)], "step 2");
        var row = H.RoundTo(H.Rand(7, 9, lo, hi), t);
        var tiled = Enumerable.Range(0, 20).SelectMany(_ => row).ToArray();
        var b = Mx.BroadcastTo(Mx.Array(row, new[] { 1, 7 }, t), new[] { 20, 7 });
        Check(tiled, new[] { 20, 7 }, new[] { 0 }, b, "broadcast axis 0");
        Check(tiled, new[] { 20, 7 }, new[] { 0, 1 }, b, "broadcast all");
    }

    [Fact]
    public void MaxMinPropagateNaN()
    {
        foreach (var t in FloatTypes)
        {
            foreach (int n in new[] { 1, 7, 33, 1023 })
            {
                foreach (int at in new[] { 0, n / 2, n - 1 })
                {
                    var x = H.RoundTo(H.Rand(n, n + at, -3, 3), t);
                    x[at] = double.NaN;
                    var a = Mx.Array(x, new[] { n }, t);
                    Assert.True(double.IsNaN(Mx.Max(a, stream: Device).Item<double>()), $"max {t.Name()} n={n} NaN at {at}");
                    Assert.True(double.IsNaN(Mx.Min(a, stream: Device).Item<double>()), $"min {t.Name()} n={n} NaN at {at}");
                }
            }
            var inf = Mx.Array(new[] { double.NegativeInfinity, 1, double.PositiveInfinity, -4 }, new[] { 4 }, t);
            Assert.Equal(double.PositiveInfinity, Mx.Max(inf, stream: Device).Item<double>());
            Assert.Equal(double.NegativeInfinity, Mx.Min(inf, stream: Device).Item<double>());
            var rows = Mx.Array(new[] { 1, double.NaN, 3, 4, 5, 6 }, new[] { 2, 3 }, t);
            H.Close(new[] { double.NaN, 6 }, Mx.Max(rows, 1, stream: Device));
            H.Close(new[] { 1, double.NaN, 3 }, Mx.Min(rows, 0, stream: Device));
        }
    }

    // ------------------------------------------------------------------ reductions over integers and bools

    private static DType SumType(DType t) => t switch
    {
        DType.Bool or DType.Int8 or DType.Int16 => DType.Int32,
        DType.UInt8 or DType.UInt16 => DType.UInt32,
        _ => t,
    };

    private static long[] IntValues(int n, DType t, int seed, long lo, long hi)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Wrap(r.NextInt64(Signed(t) ? lo : 0, hi), t)).ToArray();
    }

    private static MxArray IntArray(long[] v, DType t, int[] shape) => Mx.Array(v, shape, DType.Int64).AsType(t);

    private static long[] Read(MxArray a) => a.AsType(DType.Int64).ToArray<long>();

    public static IEnumerable<object[]> IntTypeCases() => IntTypes.Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(IntTypeCases))]
    public void IntegerReductionsAreExact(DType t)
    {
        bool unsigned64 = t == DType.UInt64;
        DType st = SumType(t);
        // Unsigned compares as unsigned; sums and products wrap in the output type.
        Func<long, long, long> max = unsigned64 ? (a, b) => (ulong)a > (ulong)b ? a : b : Math.Max;
        Func<long, long, long> min = unsigned64 ? (a, b) => (ulong)a < (ulong)b ? a : b : Math.Min;
        void Check(long[] logical, int[] shape, int[] axes, MxArray a)
        {
            Assert.Equal(ReduceRef(logical, shape, axes, 0L, (p, q) => Wrap(p + q, st)), Read(Reduce(ReduceOp.Sum, a, axes)));
            Assert.Equal(ReduceRef(logical, shape, axes, 1L, (p, q) => Wrap(p * q, st)), Read(Reduce(ReduceOp.Prod, a, axes)));
            Assert.Equal(ReduceRef(logical, shape, axes, logical[0], max), Read(Reduce(ReduceOp.Max, a, axes)));
            Assert.Equal(ReduceRef(logical, shape, axes, logical[0], min), Read(Reduce(ReduceOp.Min, a, axes)));
        }
        foreach (int n in new[] { 1, 7, 33, 1023 })
        {
            var x = IntValues(n, t, n, -120, 120);
            Check(x, new[] { n }, new[] { 0 }, IntArray(x, t, new[] { n }));
        }
        var m = IntValues(33 * 40, t, 3, -9, 9);
        foreach (var axes in new[] { new[] { 0 }, new[] { 1 }, new[] { 0, 1 } })
        {
            Check(m, new[] { 33, 40 }, axes, IntArray(m, t, new[] { 33, 40 }));
        }
        // Transposed: logical (40, 33) of the stored (33, 40).
        var tr = new long[m.Length];
        for (int i = 0; i < 40; i++)
            for (int j = 0; j < 33; j++)
                tr[i * 33 + j] = m[j * 40 + i];
        Check(tr, new[] { 40, 33 }, new[] { 1 }, Mx.Transpose(IntArray(m, t, new[] { 33, 40 })));
    }

    [Fact]
    public void LongIntegerSumsAreExact()
    {
        // Long enough for a split into chunks and a second pass on a GPU.
        int n = 200_003;
        var x = IntValues(n, DType.Int32, 17, -1000, 1000);
        long want = x.Sum();
        Assert.Equal(want, Mx.Sum(IntArray(x, DType.Int32, new[] { n }), stream: Device).AsType(DType.Int64).Item<long>());
        Assert.Equal(want, Mx.Sum(IntArray(x, DType.Int64, new[] { n }), stream: Device).Item<long>());
        long evens = x.Where((_, i) => i % 2 == 0).Sum();
        Assert.Equal(evens, Mx.Sum(IntArray(x, DType.Int64, new[] { n })[Idx.Slice(null, null, 2)], stream: Device).Item<long>());
        var cols = Mx.Sum(Mx.Reshape(IntArray(x[..200_000], DType.Int64, new[] { 200_000 }), new[] { 50_000, 4 }), 0, stream: Device);
        var wantCols = new long[4];
        for (int i = 0; i < 200_000; i++) wantCols[i % 4] += x[i];
        Assert.Equal(wantCols, cols.ToArray<long>());
    }

    [Fact]
    public void BoolAndLogicalReductions()
    {
        foreach (int n in new[] { 1, 7, 33, 1023 })
        {
            var r = new Random(n);
            var b = Enumerable.Range(0, n).Select(_ => r.Next(4) != 0).ToArray();
            var a = Mx.Array(b);
            Assert.Equal(b.All(v => v), Mx.All(a, stream: Device).Item<bool>());
            Assert.Equal(b.Any(v => v), Mx.Any(a, stream: Device).Item<bool>());
            Assert.Equal(b.Count(v => v), Mx.Sum(a, stream: Device).Item<int>());
            Assert.Equal(b.Any(v => v), Mx.Max(a, stream: Device).Item<bool>());
            Assert.Equal(b.All(v => v), Mx.Min(a, stream: Device).Item<bool>());
            var ones = Mx.Array(Enumerable.Repeat(true, n).ToArray());
            Assert.True(Mx.All(ones, stream: Device).Item<bool>());
            Assert.False(Mx.Any(Mx.LogicalNot(ones), stream: Device).Item<bool>());
        }
        // Floats: NaN and any nonzero are true.
        var f = Mx.Array(new[] { 0.5f, float.NaN, -2f, 0f, 3f, 1f }, new[] { 2, 3 });
        Assert.Equal(new[] { true, false }, Mx.All(f, 1, stream: Device).ToArray<bool>());
        Assert.Equal(new[] { true, true, true }, Mx.Any(f, 0, stream: Device).ToArray<bool>());
        Assert.Equal(new[] { false, true, true }, Mx.All(Mx.Transpose(f), 1, stream: Device).ToArray<bool>());
        var ints = Mx.Array(new[] { 0, 0, 0, 4, 0, 0, 0 });
        Assert.True(Mx.Any(ints, stream: Device).Item<bool>());
        Assert.False(Mx.All(ints, stream: Device).Item<bool>());
    }

    [Fact]
    public void EmptyReductionsGiveIdentities()
    {
        foreach (var t in new[] { DType.Float32, DType.Float16, DType.Int32, DType.UInt8, DType.Int64 })
        {
            var empty = Mx.Zeros(new[] { 0 }, t);
            Assert.Equal(0.0, Mx.Sum(empty, stream: Device).Item<double>());
            Assert.Equal(1.0, Mx.Prod(empty, stream: Device).Item<double>());
            var rows = Mx.Zeros(new[] { 3, 0 }, t);
            Assert.Equal(new double[3], Mx.Sum(rows, 1, stream: Device).ToArray<double>());
            Assert.Equal(new[] { 1.0, 1, 1 }, Mx.Prod(rows, 1, stream: Device).ToArray<double>());
            Assert.Equal(new[] { 3, 0 }, Mx.Sum(Mx.Zeros(new[] { 3, 0, 4 }, t), 2, stream: Device).Shape);
            Assert.Equal(new double[4], Mx.Sum(Mx.Zeros(new[] { 0, 4 }, t), 0, stream: Device).ToArray<double>());
        }
        var none = Mx.Zeros(new[] { 2, 0 }, DType.Bool);
        Assert.Equal(new[] { true, true }, Mx.All(none, 1, stream: Device).ToArray<bool>());
        Assert.Equal(new[] { false, false }, Mx.Any(none, 1, stream: Device).ToArray<bool>());
        Assert.Throws<ArgumentException>(() => Mx.Max(Mx.Zeros(new[] { 0 }), stream: Device));
    }

    // ------------------------------------------------------------------ argmax, argmin

    private static long ArgRef(double[] row, bool max)
    {
        long best = 0;
        for (int k = 0; k < row.Length; k++)
        {
            if (double.IsNaN(row[k]))
            {
                return k;
            }
            if (max ? row[k] > row[best] : row[k] < row[best])
            {
                best = k;
            }
        }
        return best;
    }

    public static IEnumerable<object[]> ArgCases() =>
        from t in FloatTypes.Concat(IntTypes).Append(DType.Bool)
        select new object[] { t };

    [Theory]
    [MemberData(nameof(ArgCases))]
    public void ArgMaxArgMin(DType t)
    {
        bool isFloat = FloatTypes.Contains(t);
        // Few distinct values, so ties are common: the first index must win.
        double[] Values(int n, int seed)
        {
            var r = new Random(seed);
            return Enumerable.Range(0, n).Select(_ => t == DType.Bool ? r.Next(2) : (double)r.Next(Signed(t) || isFloat ? -5 : 0, 6)).ToArray();
        }
        foreach (bool max in new[] { true, false })
        {
            foreach (int n in new[] { 1, 7, 33, 1023 })
            {
                var x = Values(n, n);
                var a = Mx.Array(x, new[] { n }, t);
                var got = max ? Mx.ArgMax(a, 0, stream: Device) : Mx.ArgMin(a, 0, stream: Device);
                Assert.Equal(ArgRef(x, max), got.Item<uint>());
            }
            // Each axis of (9, 50), plain and transposed.
            var m = Values(9 * 50, 3);
            var am = Mx.Array(m, new[] { 9, 50 }, t);
            var along1 = Enumerable.Range(0, 9).Select(i => ArgRef(m.Skip(i * 50).Take(50).ToArray(), max)).ToArray();
            var along0 = Enumerable.Range(0, 50).Select(j => ArgRef(Enumerable.Range(0, 9).Select(i => m[i * 50 + j]).ToArray(), max)).ToArray();
            Assert.Equal(along1, Read(max ? Mx.ArgMax(am, 1, stream: Device) : Mx.ArgMin(am, 1, stream: Device)));
            Assert.Equal(along0, Read(max ? Mx.ArgMax(am, 0, stream: Device) : Mx.ArgMin(am, 0, stream: Device)));
            var tv = Mx.Transpose(am);
            Assert.Equal(along1, Read(max ? Mx.ArgMax(tv, 0, stream: Device) : Mx.ArgMin(tv, 0, stream: Device)));
            Assert.Equal(along0, Read(max ? Mx.ArgMax(tv, 1, stream: Device) : Mx.ArgMin(tv, 1, stream: Device)));
        }
        if (isFloat)
        {
            foreach (int n in new[] { 7, 300 })
            {
                var x = Values(n, 40 + n);
                x[n / 3] = double.NaN;
                x[n - 1] = double.NaN;
                var a = Mx.Array(x, new[] { n }, t);
                Assert.Equal((uint)(n / 3), Mx.ArgMax(a, 0, stream: Device).Item<uint>());
                Assert.Equal((uint)(n / 3), Mx.ArgMin(a, 0, stream: Device).Item<uint>());
            }
        }
    }

    // ------------------------------------------------------------------ scans

    private static double ScanStep(ScanOp op, double acc, double v) => op switch
    {
        ScanOp.Sum => acc + v,
        ScanOp.Prod => acc * v,
        ScanOp.Max => NanMax(acc, v),
        ScanOp.Min => NanMin(acc, v),
        _ => double.IsNegativeInfinity(Math.Max(acc, v)) ? acc : Math.Max(acc, v) + Math.Log(1 + Math.Exp(-Math.Abs(acc - v))),
    };

    private static T[] ScanRef<T>(T[] x, int rows, int n, bool alongRows, bool reverse, bool inclusive, T identity, Func<T, T, T> f)
    {
        // alongRows: x is (rows, n) scanned along axis 1; else (n, rows) scanned along axis 0.
        var o = new T[x.Length];
        for (int r = 0; r < rows; r++)
        {
            T acc = identity;
            for (int i = 0; i < n; i++)
            {
                int j = reverse ? n - 1 - i : i;
                int at = alongRows ? r * n + j : j * rows + r;
                if (inclusive)
                {
                    acc = i == 0 ? x[at] : f(acc, x[at]);
                    o[at] = acc;
                }
                else
                {
                    o[at] = acc;
                    acc = i == 0 ? x[at] : f(acc, x[at]);
                }
            }
        }
        return o;
    }

    private MxArray Scan(ScanOp op, MxArray a, int axis, bool reverse, bool inclusive) => op switch
    {
        ScanOp.Sum => Mx.Cumsum(a, axis, reverse, inclusive, Device),
        ScanOp.Prod => Mx.Cumprod(a, axis, reverse, inclusive, Device),
        ScanOp.Max => Mx.Cummax(a, axis, reverse, inclusive, Device),
        ScanOp.Min => Mx.Cummin(a, axis, reverse, inclusive, Device),
        _ => Mx.Logcumsumexp(a, axis, reverse, inclusive, Device),
    };

    public static IEnumerable<object[]> FloatScanCases() =>
        from op in Enum.GetValues<ScanOp>()
        from t in FloatTypes
        select new object[] { op, t };

    [Theory]
    [MemberData(nameof(FloatScanCases))]
    public void FloatScans(ScanOp op, DType t)
    {
        double identity = op switch { ScanOp.Sum => 0, ScanOp.Prod => 1, ScanOp.Max or ScanOp.LogAddExp => double.NegativeInfinity, _ => double.PositiveInfinity };
        double lo = op == ScanOp.Prod ? 0.95 : -2, hi = op == ScanOp.Prod ? 1.05 : 2;
        foreach (bool reverse in new[] { false, true })
        {
            foreach (bool inclusive in new[] { true, false })
            {
                void Check(double[] logical, int rows, int n, bool alongRows, MxArray a, string what)
                {
                    var (rtol, atol) = FloatTol(t, n);
                    var want = H.RoundTo(ScanRef(logical, rows, n, alongRows, reverse, inclusive, identity, (p, q) => ScanStep(op, p, q)), t);
                    H.Close(want, Scan(op, a, alongRows ? -1 : 0, reverse, inclusive), rtol, atol, $"cum{op} {t.Name()} {what} reverse={reverse} inclusive={inclusive}");
                }
                foreach (int n in new[] { 0, 1, 7, 33, 1023 })
                {
                    var x = H.RoundTo(H.Rand(n, n + 2, lo, hi), t);
                    Check(x, 1, n, true, Mx.Array(x, new[] { n }, t), $"n={n}");
                }
                var m = H.RoundTo(H.Rand(21 * 6, 4, lo, hi), t);
                Check(m, 21, 6, true, Mx.Array(m, new[] { 21, 6 }, t), "(21, 6) axis 1");
                Check(m, 6, 21, false, Mx.Array(m, new[] { 21, 6 }, t), "(21, 6) axis 0");
                Check(m, 21, 6, true, H.TransposedView(m, 21, 6, t), "transposed axis 1");
                var wide = H.RoundTo(H.Rand(3 * 100, 5, lo, hi), t);
                Check(wide, 3, 100, true, Mx.Array(wide, new[] { 3, 100 }, t), "(3, 100) axis 1");
                Check(wide, 3, 100, false, Mx.Array(wide, new[] { 100, 3 }, t), "(100, 3) axis 0");
            }
        }
    }

    [Theory]
    [MemberData(nameof(IntTypeCases))]
    public void IntegerScansAreExact(DType t)
    {
        bool unsigned64 = t == DType.UInt64;
        DType st = SumType(t);
        long lowest = t switch { DType.Int8 => sbyte.MinValue, DType.Int16 => short.MinValue, DType.Int32 => int.MinValue, DType.Int64 => long.MinValue, _ => 0 };
        long highest = t switch
        {
            DType.Int8 => sbyte.MaxValue, DType.Int16 => short.MaxValue, DType.Int32 => int.MaxValue, DType.UInt8 => byte.MaxValue,
            DType.UInt16 => ushort.MaxValue, DType.UInt32 => uint.MaxValue, _ => long.MaxValue,
        };
        if (unsigned64)
        {
            highest = -1; // ulong.MaxValue read as int64
        }
        Func<long, long, long> max = unsigned64 ? (a, b) => (ulong)a > (ulong)b ? a : b : Math.Max;
        Func<long, long, long> min = unsigned64 ? (a, b) => (ulong)a < (ulong)b ? a : b : Math.Min;
        foreach (bool reverse in new[] { false, true })
        {
            foreach (bool inclusive in new[] { true, false })
            {
                foreach (var (rows, n, alongRows) in new[] { (1, 1, true), (1, 33, true), (1, 300, true), (9, 40, true), (9, 40, false) })
                {
                    var x = IntValues(rows * n, t, n + rows, -50, 50);
                    var a = IntArray(x, t, alongRows ? new[] { rows, n } : new[] { n, rows });
                    int axis = alongRows ? 1 : 0;
                    Assert.Equal(ScanRef(x, rows, n, alongRows, reverse, inclusive, 0L, (p, q) => Wrap(p + q, st)), Read(Scan(ScanOp.Sum, a, axis, reverse, inclusive)));
                    Assert.Equal(ScanRef(x, rows, n, alongRows, reverse, inclusive, 1L, (p, q) => Wrap(p * q, st)), Read(Scan(ScanOp.Prod, a, axis, reverse, inclusive)));
                    Assert.Equal(ScanRef(x, rows, n, alongRows, reverse, inclusive, lowest, max), Read(Scan(ScanOp.Max, a, axis, reverse, inclusive)));
                    Assert.Equal(ScanRef(x, rows, n, alongRows, reverse, inclusive, highest, min), Read(Scan(ScanOp.Min, a, axis, reverse, inclusive)));
                }
            }
        }
    }

    [Fact]
    public void BoolScans()
    {
        var b = new[] { true, false, true, true, false, false, true };
        var a = Mx.Array(b);
        Assert.Equal(new[] { 1, 1, 2, 3, 3, 3, 4 }, Mx.Cumsum(a, 0, stream: Device).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 1, 2, 3, 3, 3 }, Mx.Cumsum(a, 0, inclusive: false, stream: Device).ToArray<int>());
        Assert.Equal(new[] { false, true, true, true, true, true, true }, Mx.Cummax(a, 0, inclusive: false, stream: Device).ToArray<bool>());
        // An exclusive cummin starts from true.
        Assert.Equal(new[] { true, true, false, false, false, false, false }, Mx.Cummin(a, 0, inclusive: false, stream: Device).ToArray<bool>());
        Assert.Equal(new[] { false, false, false, false, false, false, true }, Mx.Cummin(a, 0, reverse: true, stream: Device).ToArray<bool>());
    }

    [Fact]
    public void ScansPropagateNaN()
    {
        var x = new[] { 1.0, 3, double.NaN, 2, 5 };
        foreach (var t in FloatTypes)
        {
            var a = Mx.Array(x, new[] { 5 }, t);
            H.Close(new[] { 1, 3, double.NaN, double.NaN, double.NaN }, Mx.Cummax(a, 0, stream: Device));
            H.Close(new[] { 1, 1, double.NaN, double.NaN, double.NaN }, Mx.Cummin(a, 0, stream: Device));
            H.Close(new[] { double.NaN, double.NaN, double.NaN, 5, 5 }, Mx.Cummax(a, 0, reverse: true, stream: Device));
            H.Close(new[] { 1, 4, double.NaN, double.NaN, double.NaN }, Mx.Cumsum(a, 0, stream: Device));
        }
    }

    // ------------------------------------------------------------------ softmax

    private static double[] SoftmaxRef(double[] x, int rows, int n, bool alongRows)
    {
        var o = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            int At(int j) => alongRows ? r * n + j : j * rows + r;
            double max = double.NegativeInfinity;
            for (int j = 0; j < n; j++) max = NanMax(max, x[At(j)]);
            double sum = 0;
            for (int j = 0; j < n; j++) sum += Math.Exp(x[At(j)] - max);
            for (int j = 0; j < n; j++) o[At(j)] = Math.Exp(x[At(j)] - max) / sum;
        }
        return o;
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Softmax(DType t)
    {
        var (rtol, atol) = t == DType.Float32 ? (1e-5, 1e-7) : (1e-12, 1e-15);
        foreach (int n in new[] { 1, 7, 33, 1023 })
        {
            var x = H.RoundTo(H.Rand(n, n, -5, 5), t);
            H.Close(H.RoundTo(SoftmaxRef(x, 1, n, true), t), Mx.Softmax(Mx.Array(x, new[] { n }, t), -1, stream: Device), rtol, atol, $"n={n}");
        }
        var m = H.RoundTo(H.Rand(21 * 40, 3, -5, 5), t);
        H.Close(H.RoundTo(SoftmaxRef(m, 21, 40, true), t), Mx.Softmax(Mx.Array(m, new[] { 21, 40 }, t), 1, stream: Device), rtol, atol, "(21, 40) axis 1");
        H.Close(H.RoundTo(SoftmaxRef(m, 40, 21, false), t), Mx.Softmax(Mx.Array(m, new[] { 21, 40 }, t), 0, stream: Device), rtol, atol, "(21, 40) axis 0");
        H.Close(H.RoundTo(SoftmaxRef(m, 21, 40, true), t), Mx.Softmax(H.TransposedView(m, 21, 40, t), 1, stream: Device), rtol, atol, "transposed");
        var wide = H.RoundTo(H.Rand(3 * 500, 4, -5, 5), t);
        H.Close(H.RoundTo(SoftmaxRef(wide, 3, 500, true), t), Mx.Softmax(Mx.Array(wide, new[] { 3, 500 }, t), 1, stream: Device), rtol, atol, "(3, 500)");
        // Softmax of integers goes through float32; NaN spreads over its row; -inf gives 0.
        var ints = Mx.Array(new[] { 1, 2, 3 });
        H.Close(SoftmaxRef(new[] { 1.0, 2, 3 }, 1, 3, true), Mx.Softmax(ints, -1, stream: Device), 1e-6, 1e-7);
        var special = Mx.Array(new[] { 1, double.NaN, 2, double.NegativeInfinity, 0, 0 }, new[] { 2, 3 }, t);
        H.Close(new[] { double.NaN, double.NaN, double.NaN, 0, 0.5, 0.5 }, Mx.Softmax(special, -1, stream: Device));
        // Rows long enough for a group per row (the GPU's one-pass max and sum; few rows, or the GPU's thread-per-row
        // kernel takes them): a NaN, leading -infs (nothing to add until the first number), a row of -infs (NaN), a
        // +inf (NaN).
        var longRows = H.RoundTo(H.Rand(4 * 40, 5, -5, 5), t);
        longRows[5] = double.NaN;
        for (int j = 0; j < 10; j++) longRows[40 + j] = double.NegativeInfinity;
        for (int j = 0; j < 40; j++) longRows[80 + j] = double.NegativeInfinity;
        longRows[120 + 20] = double.PositiveInfinity;
        for (int pair = 0; pair < 2; pair++)
        {
            var rows = longRows.Skip(80 * pair).Take(80).ToArray();
            H.Close(SoftmaxRef(rows, 2, 40, true), Mx.Softmax(Mx.Array(rows, new[] { 2, 40 }, t), 1, stream: Device), rtol, atol, $"special long rows {2 * pair}, {2 * pair + 1}");
        }
        // Rows of a wider array: 37 of 40 columns (rows at multiples of four, a partial last quad), and columns 1..37.
        var wider = H.RoundTo(H.Rand(3 * 40, 6, -5, 5), t);
        var full = Mx.Array(wider, new[] { 3, 40 }, t);
        foreach (int from in new[] { 0, 1 })
        {
            var cols = Enumerable.Range(0, 3).SelectMany(r => wider.Skip(r * 40 + from).Take(37)).ToArray();
            H.Close(H.RoundTo(SoftmaxRef(cols, 3, 37, true), t), Mx.Softmax(full[.., Idx.Slice(from, from + 37)], 1, stream: Device), rtol, atol, $"columns {from}..{from + 36}");
        }
    }

    // ------------------------------------------------------------------ the two backends agree

    [Fact]
    public void IntegerResultsEqualTheCpuBitForBit()
    {
        var x = IntValues(37 * 29, DType.Int32, 99, -1000, 1000);
        var a = Mx.Transpose(IntArray(x, DType.Int32, new[] { 37, 29 }));
        var ops = new Func<MxArray, StreamOrDevice, MxArray>[]
        {
            (v, d) => Mx.Sum(v, new[] { 0 }, stream: d),
            (v, d) => Mx.Prod(v, new[] { 1 }, stream: d),
            (v, d) => Mx.Max(v, stream: d),
            (v, d) => Mx.Min(v, new[] { 0, 1 }, stream: d),
            (v, d) => Mx.ArgMax(v, 1, stream: d),
            (v, d) => Mx.ArgMin(v, 0, stream: d),
            (v, d) => Mx.Cumsum(v, 1, stream: d),
            (v, d) => Mx.Cumprod(v, 0, reverse: true, stream: d),
            (v, d) => Mx.Cummax(v, 0, inclusive: false, stream: d),
        };
        foreach (var op in ops)
        {
            Assert.Equal(Read(op(a, Device.Cpu)), Read(op(a, Device)));
        }
    }
}

public sealed class CpuReduction : ReductionSuite
{
    protected override Device Device => Device.Cpu;
}

public sealed class GpuReduction : ReductionSuite
{
    protected override Device Device => Backends.Gpu;
}
