using static Mlx.Backends.Tests.IntegerTypes;

namespace Mlx.Backends.Tests;

/// <summary>
/// Elementwise ops on one backend (bound in Bindings.cs), checked against scalar references computed here in double
/// or exact integer arithmetic: odd sizes, empty arrays, broadcasting, transposed and negative-step inputs, every dtype.
/// </summary>
public abstract class ElementwiseSuite
{
    protected abstract Device Device { get; }

    public static readonly int[] Sizes = { 0, 1, 6, 7, 33, 1024 }; // every n % 4 (the GPU kernels go four at a time)

    public static readonly DType[] FloatTypes = { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 };

    public static readonly DType[] IntTypes = { DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64 };

    private static (double Lo, double Hi) Domain(UnaryOp op) => op switch
    {
        UnaryOp.Log or UnaryOp.Log2 or UnaryOp.Log10 or UnaryOp.Sqrt or UnaryOp.Rsqrt => (0.05, 5),
        UnaryOp.Log1p => (-0.9, 5),
        UnaryOp.Arcsin or UnaryOp.Arccos or UnaryOp.Arctanh or UnaryOp.Erfinv => (-0.95, 0.95),
        UnaryOp.Arccosh => (1.05, 6),
        UnaryOp.Tan => (-1.2, 1.2),
        UnaryOp.Reciprocal => (0.1, 3),
        _ => (-3, 3),
    };

    private static double Reference(UnaryOp op, double x) => op switch
    {
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Negative => -x,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Expm1 => Math.Abs(x) < 1e-5 ? x + x * x / 2 : Math.Exp(x) - 1,
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Log2 => Math.Log2(x),
        UnaryOp.Log10 => Math.Log10(x),
        UnaryOp.Log1p => Math.Log(1 + x),
        UnaryOp.Sin => Math.Sin(x),
        UnaryOp.Cos => Math.Cos(x),
        UnaryOp.Tan => Math.Tan(x),
        UnaryOp.Arcsin => Math.Asin(x),
        UnaryOp.Arccos => Math.Acos(x),
        UnaryOp.Arctan => Math.Atan(x),
        UnaryOp.Sinh => Math.Sinh(x),
        UnaryOp.Cosh => Math.Cosh(x),
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Arcsinh => Math.Asinh(x),
        UnaryOp.Arccosh => Math.Acosh(x),
        UnaryOp.Arctanh => Math.Atanh(x),
        UnaryOp.Sigmoid => 1 / (1 + Math.Exp(-x)),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Rsqrt => 1 / Math.Sqrt(x),
        UnaryOp.Reciprocal => 1 / x,
        UnaryOp.Square => x * x,
        UnaryOp.Floor => Math.Floor(x),
        UnaryOp.Ceil => Math.Ceiling(x),
        UnaryOp.Round => Math.Round(x, MidpointRounding.ToEven),
        UnaryOp.Cbrt => Math.Cbrt(x),
        UnaryOp.Erf => Erf(x),
        UnaryOp.Erfinv => ErfInv(x),
        UnaryOp.Sign => Math.Sign(x),
        UnaryOp.Degrees => x * 180 / Math.PI,
        UnaryOp.Radians => x * Math.PI / 180,
        _ => throw new ArgumentException(op.ToString()),
    };

    // erf by its Taylor series (converges fast on |x| <= 3 in double), and erfinv by bisection on it: independent of both backends.
    private static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return sum * 2 / Math.Sqrt(Math.PI);
    }

    private static double ErfInv(double y)
    {
        double lo = -6, hi = 6;
        for (int i = 0; i < 200; i++)
        {
            double mid = (lo + hi) / 2;
            if (Erf(mid) < y) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    public static IEnumerable<object[]> FloatUnaryCases()
    {
        foreach (var op in Enum.GetValues<UnaryOp>().Where(o => o < UnaryOp.LogicalNot))
        {
            foreach (var t in FloatTypes)
            {
                yield return new object[] { op, t };
            }
        }
    }

    [Theory]
    [MemberData(nameof(FloatUnaryCases))]
    public void FloatUnaryOps(UnaryOp op, DType dtype)
    {
        var (lo, hi) = Domain(op);
        var (rtol, atol) = H.Tol(dtype);
        if (dtype == DType.Float32)
        {
            (rtol, atol) = (2e-5, 2e-6);
        }
        else if (dtype == DType.Float64)
        {
            (rtol, atol) = op is UnaryOp.Erf or UnaryOp.Erfinv ? (2e-7, 1e-9) : (1e-12, 1e-13);
        }
        foreach (int n in Sizes)
        {
            var x = H.RoundTo(H.Rand(n, 3 + n, lo, hi), dtype);
            var expected = H.RoundTo(x.Select(v => Reference(op, v)), dtype);
            H.Close(expected, Mx.Unary(op, Mx.Array(x, new[] { n }, dtype), Device), rtol, atol, $"{op} {dtype.Name()} n={n}");
        }
        // A transposed (column-major) input.
        var m = H.RoundTo(H.Rand(21 * 5, 9, lo, hi), dtype);
        var view = H.TransposedView(m, 21, 5, dtype);
        var want = new double[21 * 5];
        for (int i = 0; i < 21; i++)
            for (int j = 0; j < 5; j++)
                want[i * 5 + j] = Reference(op, m[i * 5 + j]);
        H.Close(H.RoundTo(want, dtype), Mx.Unary(op, view, Device), rtol, atol, $"{op} {dtype.Name()} transposed");
    }

    private static int Bits(DType t) => t.Size() * 8;

    private static long[] IntValues(int n, DType t, int seed, long lo = -100, long hi = 100)
    {
        var r = new Random(seed);
        if (!Signed(t))
        {
            lo = 0;
        }
        return Enumerable.Range(0, n).Select(_ => Wrap(r.NextInt64(lo, hi), t)).ToArray();
    }

    private static MxArray IntArray(long[] v, DType t, int[]? shape = null) => Mx.Array(v, shape ?? new[] { v.Length }, DType.Int64).AsType(t);

    private static long[] Read(MxArray a) => a.AsType(DType.Int64).ToArray<long>();

    public static IEnumerable<object[]> IntTypeCases() => IntTypes.Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(IntTypeCases))]
    public void IntegerUnaryOps(DType t)
    {
        foreach (int n in Sizes)
        {
            var x = IntValues(n, t, n + 1);
            x = x.Select((v, i) => i == 0 && Signed(t) ? Wrap(long.MinValue, t) : v).ToArray();
            var a = IntArray(x, t);
            Assert.Equal(x.Select(v => Wrap(v < 0 ? -v : v, t)).ToArray(), Read(Mx.Abs(a, Device)));
            Assert.Equal(x.Select(v => Wrap(-v, t)).ToArray(), Read(Mx.Negative(a, Device)));
            Assert.Equal(x.Select(v => Wrap(v * v, t)).ToArray(), Read(Mx.Square(a, Device)));
            Assert.Equal(x.Select(v => (long)Math.Sign(v)).ToArray(), Read(Mx.Sign(a, Device)));
            Assert.Equal(x.Select(v => Wrap(~v, t)).ToArray(), Read(Mx.BitwiseInvert(a, Device)));
            Assert.Equal(new bool[n], Mx.IsNaN(a, Device).ToArray<bool>());
        }
    }

    [Fact]
    public void ClassifyAndLogicalNot()
    {
        var x = new double[] { 0, -0.0, 1.5, double.NaN, double.PositiveInfinity, double.NegativeInfinity, -2 };
        foreach (var t in FloatTypes)
        {
            var a = Mx.Array(x, new[] { x.Length }, t);
            Assert.Equal(x.Select(double.IsNaN).ToArray(), Mx.IsNaN(a, Device).ToArray<bool>());
            Assert.Equal(x.Select(double.IsInfinity).ToArray(), Mx.IsInf(a, Device).ToArray<bool>());
            Assert.Equal(x.Select(double.IsPositiveInfinity).ToArray(), Mx.IsPosInf(a, Device).ToArray<bool>());
            Assert.Equal(x.Select(double.IsNegativeInfinity).ToArray(), Mx.IsNegInf(a, Device).ToArray<bool>());
            Assert.Equal(x.Select(v => v == 0).ToArray(), Mx.LogicalNot(a, Device).ToArray<bool>());
        }
        var ints = Mx.Array(new[] { 0, 3, -1, 0 });
        Assert.Equal(new[] { true, false, false, true }, Mx.LogicalNot(ints, Device).ToArray<bool>());
        var bools = Mx.Array(new[] { true, false, true });
        Assert.Equal(new[] { false, true, false }, Mx.LogicalNot(bools, Device).ToArray<bool>());
        Assert.Equal(new[] { false, true, false }, (~bools).AsType(DType.Bool).ToArray<bool>());
    }

    private static double FloatReference(BinaryOp op, double a, double b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Subtract => a - b,
        BinaryOp.Multiply => a * b,
        BinaryOp.Divide => a / b,
        BinaryOp.FloorDivide => Math.Floor(a / b),
        BinaryOp.Remainder => a - b * Math.Floor(a / b),
        BinaryOp.Power => Math.Pow(a, b),
        BinaryOp.Maximum => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(a, b),
        BinaryOp.Minimum => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Min(a, b),
        BinaryOp.LogAddExp => Math.Max(a, b) + Math.Log(1 + Math.Exp(-Math.Abs(a - b))),
        BinaryOp.ArcTan2 => Math.Atan2(a, b),
        _ => throw new ArgumentException(op.ToString()),
    };

    public static IEnumerable<object[]> FloatBinaryCases()
    {
        foreach (var op in new[] { BinaryOp.Add, BinaryOp.Subtract, BinaryOp.Multiply, BinaryOp.Divide, BinaryOp.FloorDivide, BinaryOp.Remainder,
            BinaryOp.Power, BinaryOp.Maximum, BinaryOp.Minimum, BinaryOp.LogAddExp, BinaryOp.ArcTan2 })
        {
            foreach (var t in FloatTypes)
            {
                yield return new object[] { op, t };
            }
        }
    }

    [Theory]
    [MemberData(nameof(FloatBinaryCases))]
    public void FloatBinaryOps(BinaryOp op, DType t)
    {
        var (rtol, atol) = H.Tol(t);
        if (t == DType.Float32)
        {
            (rtol, atol) = (1e-5, 1e-6);
        }
        // Positive bases for power; divisors away from zero for the division family.
        double lo = op is BinaryOp.Power ? 0.1 : -3, hi = 3;
        foreach (int n in Sizes)
        {
            var a = H.RoundTo(H.Rand(n, n + 11, lo, hi), t);
            var b = H.RoundTo(H.Rand(n, n + 12, 0.25, 2.5).Select((v, i) => op == BinaryOp.Power || i % 2 == 0 ? v : -v), t);
            var expected = H.RoundTo(a.Zip(b, (x, y) => FloatReference(op, x, y)), t);
            var got = Mx.Binary(op, Mx.Array(a, new[] { n }, t), Mx.Array(b, new[] { n }, t), Device);
            H.Close(expected, got, rtol, atol, $"{op} {t.Name()} n={n}");
        }
        // Broadcasting (5,1) with (1,7), a scalar operand, and a negative-step view.
        var col = H.RoundTo(H.Rand(5, 21, lo, hi), t);
        var row = H.RoundTo(H.Rand(7, 22, 0.5, 2), t);
        var want = new double[35];
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 7; j++)
                want[i * 7 + j] = FloatReference(op, col[i], row[j]);
        H.Close(H.RoundTo(want, t), Mx.Binary(op, Mx.Array(col, new[] { 5, 1 }, t), Mx.Array(row, new[] { 1, 7 }, t), Device), rtol, atol, $"{op} broadcast");
        var scalar = H.RoundTo(new[] { 1.75 }, t)[0];
        H.Close(H.RoundTo(col.Select(v => FloatReference(op, v, scalar)), t), Mx.Binary(op, Mx.Array(col, new[] { 5 }, t), Mx.Array(new[] { scalar }, Array.Empty<int>(), t), Device), rtol, atol, $"{op} scalar");
        var reversed = Mx.Array(col.Reverse().ToArray(), new[] { 5 }, t)[Idx.Slice(null, null, -1)];
        H.Close(H.RoundTo(col.Zip(row, (x, y) => FloatReference(op, x, y)), t), Mx.Binary(op, reversed, Mx.Array(row[..5], new[] { 5 }, t), Device), rtol, atol, $"{op} reversed");
    }

    private static long IntReference(BinaryOp op, long a, long b, DType t)
    {
        bool signed = Signed(t);
        int bits = Bits(t);
        ulong ua = (ulong)a & (bits == 64 ? ulong.MaxValue : (1UL << bits) - 1), ub = (ulong)b & (bits == 64 ? ulong.MaxValue : (1UL << bits) - 1);
        long r = op switch
        {
            BinaryOp.Add => a + b,
            BinaryOp.Subtract => a - b,
            BinaryOp.Multiply => a * b,
            BinaryOp.FloorDivide => b == 0 ? 0 : signed ? (long)Math.Floor((double)a / b) : (long)(ua / ub),
            BinaryOp.Remainder => b == 0 ? 0 : signed ? a - b * (long)Math.Floor((double)a / b) : (long)(ua % ub),
            BinaryOp.Maximum => signed ? Math.Max(a, b) : (long)Math.Max(ua, ub),
            BinaryOp.Minimum => signed ? Math.Min(a, b) : (long)Math.Min(ua, ub),
            BinaryOp.BitwiseAnd => a & b,
            BinaryOp.BitwiseOr => a | b,
            BinaryOp.BitwiseXor => a ^ b,
            BinaryOp.LeftShift => b < 0 || b >= bits ? 0 : a << (int)b,
            BinaryOp.RightShift => b < 0 || b >= bits ? (signed && a < 0 ? -1 : 0) : signed ? a >> (int)b : (long)(ua >> (int)b),
            BinaryOp.Power => b < 0 ? 0 : (long)Enumerable.Repeat(a, (int)b).Aggregate(1L, (p, v) => p * v),
            _ => throw new ArgumentException(op.ToString()),
        };
        return Wrap(r, t);
    }

    [Theory]
    [MemberData(nameof(IntTypeCases))]
    public void IntegerBinaryOps(DType t)
    {
        var ops = new[] { BinaryOp.Add, BinaryOp.Subtract, BinaryOp.Multiply, BinaryOp.FloorDivide, BinaryOp.Remainder, BinaryOp.Maximum,
            BinaryOp.Minimum, BinaryOp.BitwiseAnd, BinaryOp.BitwiseOr, BinaryOp.BitwiseXor, BinaryOp.LeftShift, BinaryOp.RightShift, BinaryOp.Power };
        foreach (var op in ops)
        {
            foreach (int n in new[] { 0, 1, 33, 1023 })
            {
                var a = IntValues(n, t, 5 + n);
                var b = op switch
                {
                    BinaryOp.LeftShift or BinaryOp.RightShift => IntValues(n, t, 6 + n, 0, Bits(t) + 3),
                    BinaryOp.Power => IntValues(n, t, 6 + n, 0, 6),
                    _ => IntValues(n, t, 6 + n, -7, 8),
                };
                var expected = a.Zip(b, (x, y) => IntReference(op, x, y, t)).ToArray();
                Assert.True(expected.SequenceEqual(Read(Mx.Binary(op, IntArray(a, t), IntArray(b, t), Device))), $"{op} {t.Name()} n={n}");
            }
        }
        // Comparisons, with broadcasting.
        var c = IntValues(6, t, 40);
        var d = IntValues(4, t, 41);
        foreach (var op in new[] { BinaryOp.Equal, BinaryOp.NotEqual, BinaryOp.Less, BinaryOp.LessEqual, BinaryOp.Greater, BinaryOp.GreaterEqual })
        {
            var want = new bool[24];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 4; j++)
                {
                    int cmp = Signed(t) ? c[i].CompareTo(d[j]) : ((ulong)c[i]).CompareTo((ulong)d[j]);
                    want[i * 4 + j] = op switch
                    {
                        BinaryOp.Equal => cmp == 0,
                        BinaryOp.NotEqual => cmp != 0,
                        BinaryOp.Less => cmp < 0,
                        BinaryOp.LessEqual => cmp <= 0,
                        BinaryOp.Greater => cmp > 0,
                        _ => cmp >= 0,
                    };
                }
            Assert.Equal(want, Mx.Binary(op, IntArray(c, t, new[] { 6, 1 }), IntArray(d, t, new[] { 4 }), Device).ToArray<bool>());
        }
    }

    [Fact]
    public void FloatComparisonsWithNaN()
    {
        var a = new[] { 1.0, double.NaN, 2, -0.0, double.PositiveInfinity };
        var b = new[] { 1.0, double.NaN, 3, 0.0, 1 };
        foreach (var t in FloatTypes)
        {
            var x = Mx.Array(a, new[] { 5 }, t);
            var y = Mx.Array(b, new[] { 5 }, t);
            Assert.Equal(a.Zip(b, (p, q) => p == q).ToArray(), Mx.Equal(x, y, Device).ToArray<bool>());
            Assert.Equal(a.Zip(b, (p, q) => p != q).ToArray(), Mx.NotEqual(x, y, Device).ToArray<bool>());
            Assert.Equal(a.Zip(b, (p, q) => p < q).ToArray(), Mx.Less(x, y, Device).ToArray<bool>());
            Assert.Equal(a.Zip(b, (p, q) => p >= q).ToArray(), Mx.GreaterEqual(x, y, Device).ToArray<bool>());
            Assert.True(Mx.ArrayEqual(x, x, equalNan: true, Device).Item<bool>());
            Assert.False(Mx.ArrayEqual(x, x, equalNan: false, Device).Item<bool>());
            Assert.False(Mx.ArrayEqual(x, y, equalNan: true, Device).Item<bool>());
        }
    }

    [Fact]
    public void BoolArithmeticIsLogic()
    {
        var a = Mx.Array(new[] { true, true, false, false });
        var b = Mx.Array(new[] { true, false, true, false });
        Assert.Equal(new[] { true, true, true, false }, Mx.Add(a, b, Device).ToArray<bool>());
        Assert.Equal(new[] { true, false, false, false }, Mx.Multiply(a, b, Device).ToArray<bool>());
        Assert.Equal(new[] { false, true, true, false }, Mx.BitwiseXor(a, b, Device).ToArray<bool>());
        Assert.Equal(new[] { true, false, false, false }, Mx.LogicalAnd(a, b, Device).ToArray<bool>());
        Assert.Equal(new[] { true, true, true, false }, Mx.Maximum(a, b, Device).ToArray<bool>());
    }

    [Theory]
    [InlineData(DType.Bool)]
    [InlineData(DType.Int16)]
    [InlineData(DType.Float32)]
    [InlineData(DType.Int64)]
    [InlineData(DType.BFloat16)]
    public void WhereBroadcastsEveryItemSize(DType t)
    {
        var cond = Mx.Array(new[] { true, false, true }, new[] { 3, 1 });
        var a = Mx.Array(new double[] { 1, 0, 3, 4 }, new[] { 1, 4 }, t);
        var b = Mx.Array(new double[] { 0 }, Array.Empty<int>(), t);
        var want = new double[] { 1, 0, 3, 4, 0, 0, 0, 0, 1, 0, 3, 4 }.Select(v => t == DType.Bool && v != 0 ? 1 : v).ToArray();
        H.Close(want, Mx.Where(cond, a, b, Device).AsType(DType.Float64), 0, 0, "where");
        Assert.Equal(new[] { 3, 4 }, Mx.Where(cond, a, b, Device).Shape);
        Assert.Equal(0, Mx.Where(Mx.Zeros(new[] { 0 }, DType.Bool), Mx.Zeros(new[] { 0 }, t), b, Device).Size);
    }

    public static IEnumerable<object[]> CastCases()
    {
        var all = IntTypes.Concat(FloatTypes).Append(DType.Bool).ToArray();
        foreach (var from in all)
        {
            foreach (var to in all)
            {
                yield return new object[] { from, to };
            }
        }
    }

    [Theory]
    [MemberData(nameof(CastCases))]
    public void AsTypeBetweenEveryPair(DType from, DType to)
    {
        // Values every dtype holds exactly (small non-negative integers and halves for the float types).
        bool fromFloat = from.IsFloating();
        double[] v = from == DType.Bool ? new double[] { 0, 1, 1, 0, 1 } : fromFloat ? new double[] { 0, 1.5, 2, 7.25, 100, 3.75, 0.5 } : new double[] { 0, 1, 2, 7, 100, 3, 120 };
        var x = Mx.Array(v, new[] { v.Length }, from);
        var expected = v.Select(e => to == DType.Bool ? (e != 0 ? 1 : 0) : to.IsFloating() ? e : Math.Truncate(e)).ToArray();
        H.Close(expected, Mx.AsType(x, to, Device).AsType(DType.Float64), 0, 0, $"{from.Name()} -> {to.Name()}");
        // A strided (every other element) source.
        var strided = x[Idx.Slice(null, null, 2)];
        H.Close(expected.Where((_, i) => i % 2 == 0).ToArray(), Mx.AsType(strided, to, Device).AsType(DType.Float64), 0, 0, $"{from.Name()} -> {to.Name()} strided");
    }

    [Fact]
    public void CompiledChainsMatchTheirReference()
    {
        // On the GPU a chain runs as a kernel of its own (ChainKernels) or through the interpreter (FusedKernels):
        // both, each with full, scalar and partially broadcast inputs, unary and binary steps, and the longest chain.
        var device = Device.Type == DeviceType.Gpu ? GpuRuntime.Device : null;
        foreach (bool chains in device == null ? new[] { true } : new[] { true, false })
        {
            if (device != null) device.UseChainKernels = chains;
            try
            {
                var f = Mx.Compile(xs => new[] { Mx.Add(Mx.Multiply(Mx.Exp(Mx.Negative(xs[0])), xs[1]), Mx.Tanh(Mx.Divide(xs[2], 2.0))) });
                foreach (int n in new[] { 1, 2, 4, 7, 1023 }) // 3n elements: every n % 4
                {
                    var a = H.RandF(n * 3, n);
                    var b = H.RandF(3, n + 1);
                    var c = H.RandF(1, n + 2);
                    MxArray got;
                    using (Mx.StreamScope(Device))
                    {
                        got = f(new[] { Mx.Array(a, new[] { n, 3 }), Mx.Array(b, new[] { 1, 3 }), Mx.Array(c, Array.Empty<int>()) })[0];
                        Mx.Eval(got);
                    }
                    var want = new double[n * 3];
                    for (int i = 0; i < n; i++)
                        for (int j = 0; j < 3; j++)
                            want[i * 3 + j] = Math.Exp(-a[i * 3 + j]) * b[j] + Math.Tanh(c[0] / 2.0);
                    H.Close(want, got, 2e-5, 2e-6, $"compiled n={n}, chain kernels {chains}");
                }
                // The longest chain a fused kernel takes: t = t * s + x eight times (16 steps, a 33-node tree).
                var g = Mx.Compile(xs =>
                {
                    var t = xs[0];
                    for (int k = 0; k < 8; k++) t = Mx.Add(Mx.Multiply(t, xs[1]), xs[0]);
                    return new[] { t };
                });
                var x = H.RandF(37, 9);
                MxArray longest;
                using (Mx.StreamScope(Device))
                {
                    longest = g(new[] { Mx.Array(x, new[] { 37 }), Mx.Array(new[] { 0.75f }, Array.Empty<int>()) })[0];
                    Mx.Eval(longest);
                }
                var expect = x.Select(v =>
                {
                    double t = v;
                    for (int k = 0; k < 8; k++) t = t * 0.75 + v;
                    return t;
                }).ToArray();
                H.Close(expect, longest, 1e-5, 1e-6, $"16 steps, chain kernels {chains}");
            }
            finally
            {
                if (device != null) device.UseChainKernels = true;
            }
        }
    }

    private static Complex64[] RandC(int n, int seed)
    {
        var v = H.Rand(2 * n, seed, -2, 2);
        return Enumerable.Range(0, n).Select(i => new Complex64((float)v[2 * i], (float)v[2 * i + 1])).ToArray();
    }

    private static void CloseC(System.Numerics.Complex[] expected, MxArray actual, double tol, string what)
    {
        var got = actual.ToArray<Complex64>();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < got.Length; i++)
        {
            double scale = 1 + System.Numerics.Complex.Abs(expected[i]);
            Assert.True(Math.Abs(got[i].Real - expected[i].Real) <= tol * scale && Math.Abs(got[i].Imag - expected[i].Imaginary) <= tol * scale,
                $"{what} element {i}: expected {expected[i]}, got ({got[i].Real}, {got[i].Imag})");
        }
    }

    [Fact]
    public void Complex64Arithmetic()
    {
        static System.Numerics.Complex Z(Complex64 c) => new(c.Real, c.Imag);
        foreach (int n in Sizes)
        {
            var a = RandC(n, n + 1);
            var b = RandC(n, n + 2);
            var x = Mx.Array(a);
            var y = Mx.Array(b);
            CloseC(a.Zip(b, (p, q) => Z(p) + Z(q)).ToArray(), Mx.Add(x, y, Device), 1e-6, $"add n={n}");
            CloseC(a.Zip(b, (p, q) => Z(p) - Z(q)).ToArray(), Mx.Subtract(x, y, Device), 1e-6, $"subtract n={n}");
            CloseC(a.Zip(b, (p, q) => Z(p) * Z(q)).ToArray(), Mx.Multiply(x, y, Device), 1e-6, $"multiply n={n}");
            CloseC(a.Zip(b, (p, q) => Z(p) / Z(q)).ToArray(), Mx.Divide(x, y, Device), 1e-5, $"divide n={n}");
            Assert.Equal(a.Zip(b, (p, q) => p.Equals(q)).ToArray(), Mx.Equal(x, y, Device).ToArray<bool>());
            Assert.Equal(new bool[n].Select(_ => true).ToArray(), Mx.Equal(x, x, Device).ToArray<bool>());
            Assert.Equal(new bool[n], Mx.NotEqual(x, x, Device).ToArray<bool>());
            CloseC(a.Select(p => -Z(p)).ToArray(), Mx.Negative(x, Device), 1e-7, "negative");
            CloseC(a.Select(p => System.Numerics.Complex.Conjugate(Z(p))).ToArray(), Mx.Conjugate(x, Device), 1e-7, "conjugate");
            CloseC(a.Select(p => Z(p) * Z(p)).ToArray(), Mx.Square(x, Device), 1e-6, "square");
            CloseC(a.Select(p => System.Numerics.Complex.Exp(Z(p))).ToArray(), Mx.Exp(x, Device), 1e-6, "exp");
            CloseC(a.Select(p => System.Numerics.Complex.Log(Z(p))).ToArray(), Mx.Log(x, Device), 1e-6, "log");
            CloseC(a.Select(p => System.Numerics.Complex.Sqrt(Z(p))).ToArray(), Mx.Sqrt(x, Device), 1e-6, "sqrt");
            CloseC(a.Select(p => 1 / Z(p)).ToArray(), Mx.Reciprocal(x, Device), 1e-5, "reciprocal");
            H.Close(a.Select(p => System.Numerics.Complex.Abs(Z(p))).ToArray(), Mx.Abs(x, Device), 1e-6, 1e-7, "abs");
            H.Close(a.Select(p => (double)p.Real).ToArray(), Mx.Real(x, Device), 0, 0, "real");
            H.Close(a.Select(p => (double)p.Imag).ToArray(), Mx.Imag(x, Device), 0, 0, "imag");
        }
        // Broadcast against a scalar, a reversed view, and where over complex values.
        var col = RandC(5, 30);
        var s = new Complex64(0.5f, -1.5f);
        CloseC(col.Select(p => Z(p) * Z(s)).ToArray(), Mx.Multiply(Mx.Array(col), Mx.Array(new[] { s }, Array.Empty<int>()), Device), 1e-6, "scalar");
        var reversed = Mx.Array(col.Reverse().ToArray())[Idx.Slice(null, null, -1)];
        CloseC(col.Select(p => Z(p) + Z(p)).ToArray(), Mx.Add(reversed, Mx.Array(col), Device), 1e-6, "reversed");
        var mask = Mx.Array(new[] { true, false, true, false, true });
        var w = Mx.Where(mask, Mx.Array(col), Mx.Array(new[] { s }, Array.Empty<int>()), Device).ToArray<Complex64>();
        Assert.Equal(col.Select((p, i) => i % 2 == 0 ? p : s).ToArray(), w);
    }

    [Fact]
    public void HalfRoundingMatchesSystemHalf()
    {
        // Ties, subnormals, overflow and NaN, converted from float32 on this backend and by System.Half / our BFloat16.
        var values = new float[] { 1.00048828125f, 1.00146484375f, 6.1e-5f, 3e-8f, 2.98e-8f, 5.96e-8f, 65504f, 65520f, 70000f, -1e-9f, float.NaN, float.NegativeInfinity, 0.1f, -3.3333f };
        var x = Mx.Array(values);
        var half = Mx.AsType(x, DType.Float16, Device).AsType(DType.Float32).ToArray<float>();
        Assert.Equal(values.Select(v => (float)(Half)v).ToArray(), half);
        var bf = Mx.AsType(x, DType.BFloat16, Device).AsType(DType.Float32).ToArray<float>();
        Assert.Equal(values.Select(v => (float)(BFloat16)v).ToArray(), bf);
    }
}
