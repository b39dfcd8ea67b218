namespace Mlx.Core.Tests;

/// <summary>Elementwise unary ops against System.Math (double) and MathNet's special functions.</summary>
public class UnaryTests
{
    public static IEnumerable<object[]> FloatFns()
    {
        (string Name, double Lo, double Hi)[] fns =
        {
            ("Abs", -3, 3), ("Negative", -3, 3), ("Exp", -5, 5), ("Expm1", -1, 1), ("Log", 0.01, 10), ("Log2", 0.01, 10),
            ("Log10", 0.01, 10), ("Log1p", -0.5, 5), ("Sin", -6, 6), ("Cos", -6, 6), ("Tan", -1.4, 1.4), ("Arcsin", -0.99, 0.99),
            ("Arccos", -0.99, 0.99), ("Arctan", -5, 5), ("Sinh", -3, 3), ("Cosh", -3, 3), ("Tanh", -4, 4), ("Arcsinh", -5, 5),
            ("Arccosh", 1.01, 6), ("Arctanh", -0.95, 0.95), ("Sigmoid", -8, 8), ("Sqrt", 0, 9), ("Rsqrt", 0.1, 9),
            ("Reciprocal", 0.2, 5), ("Square", -3, 3), ("Floor", -3, 3), ("Ceil", -3, 3), ("Cbrt", -8, 8), ("Erf", -3, 3),
            ("Erfinv", -0.99, 0.99), ("Sign", -2, 2), ("Degrees", -3, 3), ("Radians", -180, 180),
        };
        return fns.Select(f => new object[] { f.Name, f.Lo, f.Hi });
    }

    // Taylor series near 0 (MathNet's Expm1 truncates its series and is off by 1e-12 relative at 3e-6).
    private static double Expm1Ref(double x)
    {
        if (Math.Abs(x) >= 0.5) return Math.Exp(x) - 1;
        double term = x, sum = x;
        for (int n = 2; n < 40; n++) { term *= x / n; sum += term; }
        return sum;
    }

    private static double Log1pRef(double x)
    {
        if (Math.Abs(x) >= 0.5) return Math.Log(1 + x);
        double p = x, sum = 0;
        for (int n = 1; n < 80; n++) { sum += (n % 2 == 1 ? p : -p) / n; p *= x; }
        return sum;
    }

    private static double Ref(string name, double x) => name switch
    {
        "Abs" => Math.Abs(x),
        "Negative" => -x,
        "Exp" => Math.Exp(x),
        "Expm1" => Expm1Ref(x),
        "Log" => Math.Log(x),
        "Log2" => Math.Log2(x),
        "Log10" => Math.Log10(x),
        "Log1p" => Log1pRef(x),
        "Sin" => Math.Sin(x),
        "Cos" => Math.Cos(x),
        "Tan" => Math.Tan(x),
        "Arcsin" => Math.Asin(x),
        "Arccos" => Math.Acos(x),
        "Arctan" => Math.Atan(x),
        "Sinh" => Math.Sinh(x),
        "Cosh" => Math.Cosh(x),
        "Tanh" => Math.Tanh(x),
        "Arcsinh" => Math.Asinh(x),
        "Arccosh" => Math.Acosh(x),
        "Arctanh" => Math.Atanh(x),
        "Sigmoid" => 1 / (1 + Math.Exp(-x)),
        "Sqrt" => Math.Sqrt(x),
        "Rsqrt" => 1 / Math.Sqrt(x),
        "Reciprocal" => 1 / x,
        "Square" => x * x,
        "Floor" => Math.Floor(x),
        "Ceil" => Math.Ceiling(x),
        "Cbrt" => Math.Cbrt(x),
        "Erf" => MathNet.Numerics.SpecialFunctions.Erf(x),
        "Erfinv" => MathNet.Numerics.SpecialFunctions.ErfInv(x),
        "Sign" => Math.Sign(x),
        "Degrees" => x * 180 / Math.PI,
        "Radians" => x * Math.PI / 180,
        _ => throw new ArgumentException(name),
    };

    private static MxArray Apply(string name, MxArray a) =>
        (MxArray)typeof(Mx).GetMethod(name, new[] { typeof(MxArray), typeof(StreamOrDevice?) })!.Invoke(null, new object?[] { a, null })!;

    [Theory]
    [MemberData(nameof(FloatFns))]
    public void MatchesReferenceInEveryFloatType(string name, double lo, double hi)
    {
        foreach (int n in H.OddSizes)
        {
            var v = H.Rand(n, 61 + n, lo, hi);
            foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
            {
                var input = H.RoundTo(v, t);
                var expected = input.Select(x => Ref(name, x)).ToArray();
                var r = Apply(name, Mx.Array(v, t));
                Assert.Equal(t, r.DType);
                var (rt, at) = H.Tol(t);
                if (t == DType.Float32) { rt = 2e-5; at = 2e-6; }
                if (t == DType.Float64) { rt = 1e-10; at = 1e-12; }
                if (name is "Tan" or "Reciprocal" or "Rsqrt" or "Cosh" or "Sinh" or "Exp" or "Arctanh" or "Erfinv" && t is DType.Float16 or DType.BFloat16) rt *= 2;
                H.Close(expected, r, rt, at, $"{name} {t} n={n}");
            }
            // Non-contiguous input gives the same values.
            var f32 = v.Select(x => (float)x).ToArray();
            H.Close(f32.Select(x => Ref(name, x)).ToArray(), Apply(name, H.ReversedView(f32)), 2e-5, 2e-6, $"{name} reversed n={n}");
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Expm1AndLog1pAreAccurateNearZero(DType t)
    {
        // exp(x) - 1 and log(1 + x) lose every digit here; expm1 and log1p must not.
        var x = new[] { 1e-10, -1e-10, 1e-7, -3e-6, 1e-4, 0.0, 1e-30 };
        var n = 17; // long enough for vectorized paths
        var v = Enumerable.Range(0, n).Select(i => x[i % x.Length]).ToArray();
        var rt = t == DType.Float32 ? 1e-6 : 1e-14;
        H.Close(H.RoundTo(v, t).Select(Expm1Ref).ToArray(), Mx.Expm1(Mx.Array(v, t)), rt, 0);
        H.Close(H.RoundTo(v, t).Select(Log1pRef).ToArray(), Mx.Log1p(Mx.Array(v, t)), rt, 0);
    }

    [Fact]
    public void IntegerInputComputesInFloat32()
    {
        var i = Mx.Array(new[] { 1, 4, 9 });
        Assert.Equal(DType.Float32, Mx.Sqrt(i).DType);
        Assert.Equal(new[] { 1f, 2f, 3f }, Mx.Sqrt(i).ToArray<float>());
        Assert.Equal(DType.Float32, Mx.Exp(Mx.Array(new byte[] { 0 })).DType);
        Assert.Equal(DType.Float32, Mx.Sin(Mx.Array(new[] { true })).DType);
        Assert.Equal(DType.Float32, Mx.Log(Mx.Array(new[] { 1L })).DType);
    }

    [Fact]
    public void SignPreservingOpsKeepIntegerTypes()
    {
        var a = Mx.Array(new sbyte[] { -3, 0, 5, -128 });
        Assert.Equal(DType.Int8, Mx.Abs(a).DType);
        Assert.Equal(new sbyte[] { 3, 0, 5, -128 }, Mx.Abs(a).ToArray<sbyte>());
        Assert.Equal(new sbyte[] { 3, 0, -5, -128 }, Mx.Negative(a).ToArray<sbyte>());
        Assert.Equal(new sbyte[] { -1, 0, 1, -1 }, Mx.Sign(a).ToArray<sbyte>());
        Assert.Equal(new sbyte[] { 9, 0, 25, 0 }, Mx.Square(a).ToArray<sbyte>());
        Assert.Equal(DType.Int8, Mx.Floor(a).DType);
        Assert.Equal(new uint[] { 0, 7 }, Mx.Abs(Mx.Array(new uint[] { 0, 7 })).ToArray<uint>());
        Assert.Equal(new uint[] { 0, 1 }, Mx.Sign(Mx.Array(new uint[] { 0, 7 })).ToArray<uint>());
        Assert.Equal(new[] { 0L, long.MaxValue }, Mx.Abs(Mx.Array(new[] { 0L, -long.MaxValue })).ToArray<long>());
    }

    [Fact]
    public void RoundHalfToEven()
    {
        var a = Mx.Array(new[] { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f });
        Assert.Equal(new[] { 0f, 2, 2, -0f, -2, 2, -3 }, Mx.Round(a).ToArray<float>());
        H.Close(new[] { 1.23, -1.24, 10 }, Mx.Round(Mx.Array(new[] { 1.2345, -1.2351, 9.999 }), 2), 1e-12);
        Assert.Equal(new[] { 3, -3 }, Mx.Round(Mx.Array(new[] { 3, -3 }), 2).ToArray<int>());
        Assert.Equal(DType.Float16, Mx.Round(Mx.Array(new[] { (Half)2.5 })).DType);
        Assert.Equal(2.0, Mx.Round(Mx.Array(new[] { (Half)2.5 })).AsType(DType.Float64).Item<double>());
    }

    [Fact]
    public void SpecialValues()
    {
        var a = Mx.Array(new[] { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -1f });
        var log = Mx.Log(a).ToArray<float>();
        Assert.Equal(float.NegativeInfinity, log[0]);
        Assert.Equal(float.NegativeInfinity, log[1]);
        Assert.Equal(float.PositiveInfinity, log[2]);
        Assert.True(float.IsNaN(log[3]) && float.IsNaN(log[4]) && float.IsNaN(log[5]));
        var sig = Mx.Sigmoid(a).ToArray<float>();
        Assert.Equal(new[] { 0.5f, 0.5f, 1f, 0f }, sig.Take(4).ToArray());
        Assert.True(float.IsNaN(Mx.Sign(Mx.Array(float.NaN)).Item<float>()));
        Assert.Equal(new[] { float.PositiveInfinity, float.NegativeInfinity }, Mx.Reciprocal(Mx.Array(new[] { 0f, -0f })).ToArray<float>());
        Assert.Equal(new[] { 1f, -1f, float.PositiveInfinity }, Mx.Erfinv(Mx.Array(new[] { 0.9999999f, -0.9999999f, 1f })).ToArray<float>().Select((v, i) => i < 2 ? MathF.Sign(v) : v).ToArray());
        Assert.Equal(new[] { 1f, -1f }, Mx.Tanh(Mx.Array(new[] { 100f, -100f })).ToArray<float>());
    }

    [Fact]
    public void Classification()
    {
        var a = Mx.Array(new[] { 1f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f });
        Assert.Equal(new[] { false, true, false, false, false }, Mx.IsNaN(a).ToArray<bool>());
        Assert.Equal(new[] { false, false, true, true, false }, Mx.IsInf(a).ToArray<bool>());
        Assert.Equal(new[] { false, false, true, false, false }, Mx.IsPosInf(a).ToArray<bool>());
        Assert.Equal(new[] { false, false, false, true, false }, Mx.IsNegInf(a).ToArray<bool>());
        Assert.Equal(new[] { true, false, false, false, true }, Mx.IsFinite(a).ToArray<bool>());
        Assert.Equal(new[] { false, false }, Mx.IsNaN(Mx.Array(new[] { 1, 2 })).ToArray<bool>());
        Assert.Equal(new[] { false, true }, Mx.IsNaN(Mx.Array(new[] { (Half)1, Half.NaN })).ToArray<bool>());
        Assert.Equal(new[] { false, true }, Mx.IsInf(Mx.Array(new[] { (BFloat16)1f, (BFloat16)float.NegativeInfinity })).ToArray<bool>());
        H.Close(new[] { 1, 0, 3.4028234663852886e38, -3.4028234663852886e38, 0 }, Mx.NanToNum(a), 1e-7);
        H.Close(new[] { 5.0, 65504, -65504 }, Mx.NanToNum(Mx.Array(new[] { Half.NaN, Half.PositiveInfinity, Half.NegativeInfinity }), nan: 5), 0);
    }

    [Fact]
    public void LogicalNotAndBoolRules()
    {
        Assert.Equal(new[] { false, true, false }, Mx.LogicalNot(Mx.Array(new[] { 2, 0, -1 })).ToArray<bool>());
        Assert.Equal(new[] { true, false }, Mx.LogicalNot(Mx.Array(new[] { 0.0f, float.NaN })).ToArray<bool>());
        Assert.Throws<ArgumentException>(() => Mx.Negative(Mx.Array(new[] { true })));
        Assert.Equal(new[] { false, true }, Mx.BitwiseInvert(Mx.Array(new[] { true, false })).ToArray<bool>());
        Assert.Equal(DType.Bool, Mx.BitwiseInvert(Mx.Array(new[] { true })).DType);
        Assert.Equal(new[] { true, false }, Mx.Abs(Mx.Array(new[] { true, false })).ToArray<bool>());
    }

    [Fact]
    public void ComplexUnary()
    {
        var z = Mx.Array(new[] { new Complex64(3, 4), new Complex64(0, (float)Math.PI) });
        Assert.Equal(DType.Float32, Mx.Abs(z).DType);
        Assert.Equal(5f, Mx.Abs(z).ToArray<float>()[0], 5);
        var e = Mx.Exp(z).ToArray<Complex64>()[1];
        Assert.Equal(-1f, e.Real, 5);
        Assert.Equal(0f, e.Imag, 5);
        Assert.Equal(new[] { 3f, 0f }, Mx.Real(z).ToArray<float>());
        Assert.Equal(new[] { 4f, (float)Math.PI }, Mx.Imag(z).ToArray<float>());
        Assert.Equal(new Complex64(3, -4), Mx.Conjugate(z).ToArray<Complex64>()[0]);
        Assert.Equal(new Complex64(-3, -4), Mx.Negative(z).ToArray<Complex64>()[0]);
        Assert.Equal(new[] { 0f, 0f }, Mx.Imag(Mx.Array(new[] { 1f, 2f })).ToArray<float>());
    }

    [Fact]
    public void ComplexTrigAndRefusedOps()
    {
        var zv = new System.Numerics.Complex(0.3, 0.7);
        var z = Mx.Array(new[] { new Complex64(0.3f, 0.7f) });
        void Check(Func<MxArray, MxArray> op, System.Numerics.Complex expected)
        {
            var r = op(z).Item<Complex64>();
            Assert.Equal(expected.Real, r.Real, 5);
            Assert.Equal(expected.Imaginary, r.Imag, 5);
        }
        Check(a => Mx.Tan(a), System.Numerics.Complex.Tan(zv));
        Check(a => Mx.Sinh(a), System.Numerics.Complex.Sinh(zv));
        Check(a => Mx.Cosh(a), System.Numerics.Complex.Cosh(zv));
        Check(a => Mx.Sin(a), System.Numerics.Complex.Sin(zv));
        Check(a => Mx.Sqrt(a), System.Numerics.Complex.Sqrt(zv));
        Check(a => Mx.Log(a), System.Numerics.Complex.Log(zv));
        // MLX: floor/ceil of complex raise when the op is built.
        Assert.Throws<ArgumentException>(() => Mx.Floor(z));
        Assert.Throws<ArgumentException>(() => Mx.Ceil(z));
        Assert.Throws<ArgumentException>(() => Mx.Erf(z));
        var nan = Mx.Array(new[] { new Complex64(float.NaN, 0), new Complex64(1, float.PositiveInfinity), new Complex64(0, 0) });
        Assert.Equal(new[] { true, false, false }, Mx.IsNaN(nan).ToArray<bool>());
        Assert.Equal(new[] { false, true, false }, Mx.IsInf(nan).ToArray<bool>());
        Assert.Equal(new[] { false, false, true }, Mx.LogicalNot(nan).ToArray<bool>());
    }

    [Fact]
    public void ErfinvEdgesFromMlxTests()
    {
        // MLX test_ops.py test_erfinv (scipy values).
        var r = Mx.Erfinv(Mx.Array(new[] { -5f, -1f, 0.5f, 0f, 0.5f, 1f, 5f })).ToArray<float>();
        Assert.True(float.IsNaN(r[0]) && float.IsNaN(r[6]));
        Assert.Equal(float.NegativeInfinity, r[1]);
        Assert.Equal(float.PositiveInfinity, r[5]);
        Assert.Equal(0.47693628f, r[2], 6);
        Assert.Equal(0f, r[3]);
        // test_erf
        var e = Mx.Erf(Mx.Array(new[] { -5f, 0f, 0.5f, 1f, 2f, 10f })).ToArray<float>();
        H.Close(new[] { -1, 0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 1 }, e.Select(v => (double)v).ToArray(), 1e-6, 1e-7);
        // test_floor / test_ceil
        var f = Mx.Array(new[] { -22.03f, 19.98f, -27f, 9f, 0f, float.NegativeInfinity, float.PositiveInfinity });
        Assert.Equal(new[] { -23f, 19, -27, 9, 0, float.NegativeInfinity, float.PositiveInfinity }, Mx.Floor(f).ToArray<float>());
        Assert.Equal(new[] { -22f, 20, -27, 9, 0, float.NegativeInfinity, float.PositiveInfinity }, Mx.Ceil(f).ToArray<float>());
    }

    [Fact]
    public void EmptyUnary()
    {
        Assert.Empty(Mx.Exp(Mx.Zeros(new[] { 0 })).ToArray<float>());
        Assert.Empty(Mx.Abs(Mx.Zeros(new[] { 0, 2 }, DType.Int16)).ToArray<short>());
        Assert.Empty(Mx.Sin(Mx.Zeros(new[] { 0 }, DType.Float16)).ToArray<Half>());
    }

    public static IEnumerable<object[]> IntTypes() =>
        new[] { DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64, DType.Int8, DType.Int16, DType.Int32, DType.Int64 }.Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(IntTypes))]
    public void IntegerUnaryOverOddSizes(DType t)
    {
        bool signed = t.IsSignedInteger();
        foreach (int n in H.OddSizes)
        {
            var v = Enumerable.Range(0, n).Select(i => (double)((i * 7 % 11) - (signed ? 5 : 0))).ToArray();
            var a = Mx.Array(v).AsType(t);
            var r = Mx.Array(v.Reverse().ToArray()).AsType(t)[Idx.Slice(null, null, -1)];
            Assert.Equal(t, Mx.Abs(a).DType);
            H.Close(v.Select(Math.Abs).ToArray(), Mx.Abs(r), 0, 0, $"{t} abs n={n}");
            H.Close(v.Select(x => (double)Math.Sign(x)).ToArray(), Mx.Sign(a), 0, 0, $"{t} sign n={n}");
            H.Close(v.Select(x => x * x).ToArray(), Mx.Square(r), 0, 0, $"{t} square n={n}");
            H.Close(v.Select(x => Math.Sqrt(Math.Abs(x))).ToArray(), Mx.Sqrt(Mx.Abs(a)), 1e-6, 1e-6, $"{t} sqrt n={n}");
            if (signed)
            {
                H.Close(v.Select(x => -x).ToArray(), Mx.Negative(r), 0, 0, $"{t} neg n={n}");
                H.Close(v.Select(x => -x - 1).ToArray(), Mx.BitwiseInvert(a), 0, 0, $"{t} invert n={n}");
            }
        }
    }

    [Fact]
    public void LargeUnarySplitsAcrossThreads()
    {
        int n = 200_003;
        var v = H.Rand(n, 99, -3, 3);
        var r = Mx.Exp(Mx.Array(v, DType.Float32)).ToArray<float>();
        for (int i = 0; i < n; i += 997)
        {
            Assert.Equal(Math.Exp((float)v[i]), r[i], Math.Exp((float)v[i]) * 2e-6);
        }
        Assert.Equal(Math.Exp((float)v[n - 1]), r[n - 1], Math.Exp((float)v[n - 1]) * 2e-6);
    }
}
