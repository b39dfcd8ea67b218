namespace Mlx.Core.Tests;

/// <summary>Binary arithmetic, promotion (MLX's 14x14 table), weak scalars, broadcasting, floored division.</summary>
public class BinaryTests
{
    public static readonly DType[] AllTypes = Enum.GetValues<DType>();

    private static MxArray One(DType t) => Mx.Array(new[] { 1.0 }).AsType(t);

    [Fact]
    public void LargeTransposedOperandsMatchElementwiseReference()
    {
        // Over 64K elements, an operand read along another dim than the output's last is first copied row-major by
        // tiles: odd sizes (tile tails), one or both operands transposed, a 3-D permutation, float32 and float64.
        const int R = 301, C = 259;
        var xv = H.RandF(R * C, 1);
        var yv = H.RandF(R * C, 2);
        var x = Mx.Array(xv, new[] { R, C });
        var yT = Mx.Transpose(Mx.Array(yv, new[] { C, R }));   // yT[i, j] = yv[j * R + i]
        var xT = Mx.Transpose(Mx.Array(xv, new[] { C, R }));   // xT[i, j] = xv[j * R + i]
        var got = Mx.Subtract(x, yT).ToArray<float>();
        var both = Mx.Multiply(xT, yT).ToArray<float>();
        for (int i = 0; i < R; i++)
        {
            for (int j = 0; j < C; j++)
            {
                Assert.Equal(xv[i * C + j] - yv[j * R + i], got[i * C + j]);
                Assert.Equal(xv[j * R + i] * yv[j * R + i], both[i * C + j]);
            }
        }
        // (A, B, C) permuted to (C, A, B), plus a row-major array of the result's shape, in float64.
        var v = H.Rand(3 * 181 * 130, 3);
        var p = Mx.Transpose(Mx.Array(v, new[] { 3, 181, 130 }), new[] { 2, 0, 1 });
        var w = H.Rand(130 * 3 * 181, 4);
        var sum = Mx.Add(p, Mx.Array(w, new[] { 130, 3, 181 })).ToArray<double>();
        for (int c = 0; c < 130; c++)
        for (int a = 0; a < 3; a++)
        for (int b = 0; b < 181; b++)
        {
            Assert.Equal(v[(a * 181 + b) * 130 + c] + w[(c * 3 + a) * 181 + b], sum[(c * 3 + a) * 181 + b]);
        }
        Assert.Equal(Mx.Contiguous(p).ToArray<double>(), Enumerable.Range(0, 130 * 3 * 181).Select(k => v[(k / 181 % 3 * 181 + k % 181) * 130 + k / (3 * 181)]).ToArray());
    }

    [Theory]
    // Spot checks of mlx/dtype.cpp's promotion table, independent of DTypes.Promote.
    [InlineData(DType.Int8, DType.UInt8, DType.Int16)]
    [InlineData(DType.UInt8, DType.Int8, DType.Int16)]
    [InlineData(DType.UInt64, DType.Int32, DType.Float32)]
    [InlineData(DType.Int64, DType.UInt64, DType.Float32)]
    [InlineData(DType.Float16, DType.BFloat16, DType.Float32)]
    [InlineData(DType.BFloat16, DType.Float16, DType.Float32)]
    [InlineData(DType.Int32, DType.Float16, DType.Float16)]
    [InlineData(DType.Int64, DType.BFloat16, DType.BFloat16)]
    [InlineData(DType.UInt16, DType.Int8, DType.Int32)]
    [InlineData(DType.UInt32, DType.Int16, DType.Int64)]
    [InlineData(DType.UInt8, DType.UInt16, DType.UInt16)]
    [InlineData(DType.Bool, DType.Int8, DType.Int8)]
    [InlineData(DType.Bool, DType.Bool, DType.Bool)]
    [InlineData(DType.Bool, DType.Float16, DType.Float16)]
    [InlineData(DType.Float16, DType.Float32, DType.Float32)]
    [InlineData(DType.BFloat16, DType.Float64, DType.Float64)]
    [InlineData(DType.Float64, DType.Complex64, DType.Complex64)]
    [InlineData(DType.Int8, DType.Complex64, DType.Complex64)]
    [InlineData(DType.UInt64, DType.UInt8, DType.UInt64)]
    [InlineData(DType.Int32, DType.Int64, DType.Int64)]
    [InlineData(DType.UInt32, DType.Float32, DType.Float32)]
    public void PromotionOfArrays(DType a, DType b, DType expected)
    {
        var r = Mx.Add(One(a), One(b));
        Assert.Equal(expected, r.DType);
        Assert.Equal(expected, DTypes.Promote(a, b));
        Assert.Equal(expected, DTypes.Promote(b, a));
        Assert.Equal(expected == DType.Bool ? 1.0 : 2.0, r.AsType(DType.Float64).Item<double>());
    }

    [Fact]
    public void PromotionTableIsSymmetricAndIdempotent()
    {
        foreach (var a in AllTypes)
        {
            Assert.Equal(a, DTypes.Promote(a, a));
            Assert.Equal(a, DTypes.Promote(a, DType.Bool));
            foreach (var b in AllTypes)
            {
                Assert.Equal(DTypes.Promote(a, b), DTypes.Promote(b, a));
            }
        }
    }

    [Fact]
    public void WeakScalarsKeepTheArrayType()
    {
        var i8 = Mx.Array(new sbyte[] { 1, -2, 3 });
        Assert.Equal(DType.Int8, (i8 * 0).DType);
        Assert.Equal(new sbyte[] { 0, 0, 0 }, (i8 * 0).ToArray<sbyte>());
        Assert.Equal(DType.Float32, (i8 * 1.0).DType);
        Assert.Equal(DType.Float32, (i8 * 1.0f).DType);
        var u8 = Mx.Array(new byte[] { 1, 2 });
        Assert.Equal(DType.UInt8, (u8 + 1).DType);
        Assert.Equal(DType.UInt8, (2 - u8).DType);
        var f16 = Mx.Array(new[] { (Half)1.5 });
        Assert.Equal(DType.Float16, (f16 * 2.0).DType);
        Assert.Equal(DType.Float16, (f16 + 1).DType);
        var bf = Mx.Array(new[] { (BFloat16)1.5f });
        Assert.Equal(DType.BFloat16, (bf * 2.0).DType);
        var b = Mx.Array(new[] { true, false });
        Assert.Equal(DType.Int32, (b + 1).DType);
        Assert.Equal(new[] { 2, 1 }, (b + 1).ToArray<int>());
        Assert.Equal(DType.Float32, (b * 1.5).DType);
        var i64 = Mx.Array(new[] { 5L });
        Assert.Equal(DType.Int64, (i64 * 3).DType);
        Assert.Equal(DType.Float64, (Mx.Array(new[] { 1.0 }) + 1.5).DType);
        Assert.Equal(DType.Complex64, (Mx.Array(new[] { new Complex64(1, 1) }) * 2.0).DType);
        // Two strong scalars promote normally.
        Assert.Equal(DType.Float32, Mx.Add(Mx.Array(1), Mx.Array(1.5f)).DType);
    }

    public static IEnumerable<object[]> NumericTypes() =>
        new[] { DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64, DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.Float16, DType.Float32, DType.Float64, DType.BFloat16 }
            .Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void ArithmeticInEveryNumericType(DType t)
    {
        double[] a = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17 };
        double[] b = { 3, 1, 2, 4, 1, 2, 3, 1, 2, 1, 3, 1, 2, 1, 3, 2, 1 };
        var x = Mx.Array(a, t);
        var y = Mx.Array(b, t);
        Assert.Equal(t, (x + y).DType);
        H.Close(a.Zip(b, (p, q) => p + q).ToArray(), x + y);
        H.Close(a.Zip(b, (p, q) => p * q).ToArray(), x * y);
        H.Close(a.Zip(b, (p, q) => Math.Max(p, q)).ToArray(), Mx.Maximum(x, y));
        H.Close(a.Zip(b, (p, q) => Math.Min(p, q)).ToArray(), Mx.Minimum(x, y));
        H.Close(a.Zip(b, (p, q) => Math.Floor(p / q)).ToArray(), Mx.FloorDivide(x, y));
        H.Close(a.Zip(b, (p, q) => p % q).ToArray(), x % y);
        var big = Mx.Array(a.Select(v => v + 20).ToArray(), t);
        H.Close(a.Select(v => v + 20 - v).ToArray(), big - x);
        var div = x / y;
        Assert.Equal(t.IsFloating() ? t : DType.Float32, div.DType);
        var (rt, at) = H.Tol(div.DType);
        H.Close(a.Zip(b, (p, q) => p / q).ToArray(), div, rt, at);
        // Powers small enough for every type: 1^3, 2^1, 3^2, 4^4 would overflow 8 bits so stop at 3.
        H.Close(new double[] { 1, 2, 9 }, Mx.Power(x[..3], y[..3]), rt, at);
    }

    [Fact]
    public void ScalarInputsFromMlxTests()
    {
        // MLX test_scalar_inputs / test_add: weak Python scalars against arrays.
        Assert.Equal(DType.Bool, Mx.Add(Mx.Array(true), false).DType);
        Assert.True(Mx.Add(Mx.Array(true), false).Item<bool>());
        Assert.Equal(DType.Int32, Mx.Add(Mx.Array(1), false).DType);
        Assert.Equal(DType.Int32, Mx.Add(Mx.Array(true), 1).DType);
        Assert.Equal(2, Mx.Add(Mx.Array(true), 1).Item<int>());
        Assert.Equal(DType.Float32, Mx.Add(Mx.Array(1.0f), 1).DType);
        Assert.Equal(DType.UInt32, (Mx.Array(1u) + 3).DType);
        Assert.Equal(4u, (3 + Mx.Array(1u)).Item<uint>());
        Assert.Equal(DType.Float32, (Mx.Array(1u) + 3.0).DType);
        Assert.Equal(DType.Int64, (3 + Mx.Array(1L)).DType);
        Assert.Equal(DType.Float32, (3.0 + Mx.Array(1L)).DType);
        Assert.Equal(DType.Float16, (Mx.Array((Half)2) / 4.0).DType);
        Assert.Equal(DType.Float16, (4.0 / Mx.Array((Half)2)).DType);
        Assert.Equal(2.5f, (Mx.Array(5) / Mx.Array(2)).Item<float>());
        Assert.Equal(2, Mx.FloorDivide(Mx.Array(5), Mx.Array(2)).Item<int>());
        // Integer literals passed to the named ops stay weak integers too.
        Assert.Equal(DType.Int32, Mx.Multiply(Mx.Array(new[] { 1, 2 }), 2).DType);
        Assert.Equal(new[] { 2, 4 }, Mx.Multiply(Mx.Array(new[] { 1, 2 }), 2).ToArray<int>());
        Assert.Equal(DType.Int8, Mx.Subtract(Mx.Array(new sbyte[] { 1 }), 1).DType);
        Assert.Equal(DType.UInt8, Mx.Subtract(5, Mx.Array(new byte[] { 1 })).DType);
        Assert.Equal(DType.Int16, Mx.Power(Mx.Array(new short[] { 3 }), 2).DType);
        Assert.Equal(9, Mx.Power(Mx.Array(new short[] { 3 }), 2).Item<short>());
        Assert.Equal(DType.Float32, Mx.Divide(Mx.Array(new[] { 3 }), 2).DType);
        Assert.Equal(DType.Float32, Mx.Multiply(Mx.Array(new[] { 1, 2 }), 2.0).DType);
        long big = 5_000_000_000L;
        Assert.Equal(DType.Int64, Mx.Add(Mx.Array(new[] { 1L }), big).DType);
        Assert.Equal(5_000_000_001L, Mx.Add(Mx.Array(new[] { 1L }), big).Item<long>());
        // test_remainder
        foreach (var t in new[] { DType.Int32, DType.Float32 })
        {
            var x = Mx.Array(2).AsType(t);
            var y = Mx.Array(4).AsType(t);
            Assert.Equal(2.0, Mx.Remainder(x, y).AsType(DType.Float64).Item<double>());
            Assert.Equal(0.0, Mx.Remainder(y, x).AsType(DType.Float64).Item<double>());
            Assert.Equal(t, (x % 4).DType);
            Assert.Equal(1.0, (1 % x).AsType(DType.Float64).Item<double>());
            Assert.Equal(t, (1 % x).DType);
        }
    }

    [Fact]
    public void WeakLiteralsKeepTheirExactValueInWideTypes()
    {
        // The literal converts straight to the array's type, as MLX builds array(scalar, dtype).
        Assert.Equal(1.1, (Mx.Array(new[] { 1.0 }) + 0.1).Item<double>());
        Assert.Equal(0.30000000000000004, (Mx.Array(new[] { 0.2 }) + 0.1).Item<double>());
        Assert.Equal(3_000_000_000L, (Mx.Array(new[] { 0L }) + 3_000_000_000L).Item<long>());
        Assert.Equal(-5_000_000_000L, (Mx.Array(new[] { 1L }) * -5_000_000_000L).Item<long>());
        Assert.Equal(3_000_000_000UL, (Mx.Array(new[] { 0UL }) + 3_000_000_000L).Item<ulong>());
        Assert.Equal(1e-300, Mx.Where(Mx.Array(true), 1e-300, Mx.Array(new[] { 0.0 })).Item<double>());
        // Narrow types still round the literal to themselves.
        Assert.Equal((float)(1 + 0.1), (Mx.Array(new[] { 1f }) + 0.1).Item<float>());
        Assert.Equal(DType.Float32, (Mx.Array(new[] { 1 }) + 0.1).DType);
    }

    [Fact]
    public void BoolArithmeticIsLogic()
    {
        var a = Mx.Array(new[] { true, true, false, false });
        var b = Mx.Array(new[] { true, false, true, false });
        Assert.Equal(DType.Bool, (a + b).DType);
        Assert.Equal(new[] { true, true, true, false }, (a + b).ToArray<bool>());
        Assert.Equal(new[] { true, false, false, false }, (a * b).ToArray<bool>());
        Assert.Equal(new[] { true, true, true, false }, (a | b).ToArray<bool>());
        Assert.Equal(new[] { true, false, false, false }, (a & b).ToArray<bool>());
        Assert.Equal(new[] { false, true, true, false }, (a ^ b).ToArray<bool>());
        Assert.Equal(new[] { false, true, true, false }, Mx.LogicalXor(a, b).ToArray<bool>());
        Assert.Equal(new[] { false, false, true, true }, (~a).ToArray<bool>());
    }

    [Fact]
    public void IntegerOverflowWraps()
    {
        Assert.Equal(new sbyte[] { -128 }, (Mx.Array(new sbyte[] { 127 }) + 1).ToArray<sbyte>());
        Assert.Equal(new byte[] { 255 }, (Mx.Array(new byte[] { 0 }) - 1).ToArray<byte>());
        Assert.Equal(new[] { int.MinValue }, (Mx.Array(new[] { int.MaxValue }) + 1).ToArray<int>());
    }

    [Fact]
    public void IntegerFloorDivideAndRemainderFloorLikePython()
    {
        var a = Mx.Array(new[] { 7, -7, 7, -7, 0, 6, -6, 1, -1 });
        var b = Mx.Array(new[] { 2, 2, -2, -2, 3, 3, 3, 5, 5 });
        Assert.Equal(new[] { 3, -4, -4, 3, 0, 2, -2, 0, -1 }, Mx.FloorDivide(a, b).ToArray<int>());
        Assert.Equal(new[] { 1, 1, -1, -1, 0, 0, 0, 1, 4 }, (a % b).ToArray<int>());
        var (q, r) = Mx.DivMod(a, b);
        Assert.Equal(Mx.FloorDivide(a, b).ToArray<int>(), q.ToArray<int>());
        Assert.Equal((a % b).ToArray<int>(), r.ToArray<int>());
        // a == q * b + r
        var back = q * b + r;
        Assert.Equal(a.ToArray<int>(), back.ToArray<int>());
        foreach (var t in new[] { DType.Int8, DType.Int16, DType.Int64 })
        {
            Assert.Equal(new long[] { 3, -4, -4, 3, 0, 2, -2, 0, -1 }, Mx.FloorDivide(a.AsType(t), b.AsType(t)).ToArray<long>());
            Assert.Equal(new long[] { 1, 1, -1, -1, 0, 0, 0, 1, 4 }, (a.AsType(t) % b.AsType(t)).ToArray<long>());
        }
    }

    [Fact]
    public void IntegerMinValueDividedByMinusOneDoesNotThrow()
    {
        // NumPy: floor_divide(INT_MIN, -1) wraps to INT_MIN and remainder is 0.
        var a = Mx.Array(new[] { int.MinValue, long.MinValue > 0 ? 0 : int.MinValue });
        var b = Mx.Array(new[] { -1, -1 });
        Assert.Equal(new[] { int.MinValue, int.MinValue }, Mx.FloorDivide(a, b).ToArray<int>());
        Assert.Equal(new[] { 0, 0 }, (a % b).ToArray<int>());
        Assert.Equal(new sbyte[] { sbyte.MinValue }, Mx.FloorDivide(Mx.Array(new[] { sbyte.MinValue }), Mx.Array(new sbyte[] { -1 })).ToArray<sbyte>());
        Assert.Equal(new[] { 0L }, (Mx.Array(new[] { long.MinValue }) % Mx.Array(new[] { -1L })).ToArray<long>());
    }

    [Fact]
    public void IntegerDivisionByZeroGivesZero()
    {
        var a = Mx.Array(new[] { 5, -5, 0 });
        var z = Mx.Zeros(new[] { 3 }, DType.Int32);
        Assert.Equal(new[] { 0, 0, 0 }, Mx.FloorDivide(a, z).ToArray<int>());
        Assert.Equal(new[] { 0, 0, 0 }, (a % z).ToArray<int>());
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    public void FloatFloorDivideAndRemainder(DType t)
    {
        double[] a = { 7.5, -7.5, 7.5, -7.5, 5, -5, 0.5 };
        double[] b = { 2, 2, -2, -2, 2.5, 2.5, -0.25 };
        var x = Mx.Array(a, t);
        var y = Mx.Array(b, t);
        H.Close(new double[] { 3, -4, -4, 3, 2, -2, -2 }, Mx.FloorDivide(x, y));
        H.Close(new double[] { 1.5, 0.5, -0.5, -1.5, 0, 0, 0 }, x % y);
        // Python: -7.5 % 2 == 0.5; 7.5 % -2 == -0.5
        var (q, r) = Mx.DivMod(x, y);
        H.Close(a, q * y + r);
    }

    [Fact]
    public void WeakScalarRemainder()
    {
        Assert.Equal(new[] { 2, 1, 0, 2, 1 }, (Mx.Array(new[] { -4, -2, 0, 2, 4 }) % 3).ToArray<int>());
        H.Close(new double[] { 2, 0.5 }, Mx.Array(new[] { -1f, 3.5f }) % 3);
    }

    [Fact]
    public void PowerIntegers()
    {
        var b = Mx.Array(new[] { 2, 3, -2, 0, 1, -1, -1 });
        var e = Mx.Array(new[] { 10, 3, 3, 0, -2, -3, 2 });
        Assert.Equal(new[] { 1024, 27, -8, 1, 1, -1, 1 }, Mx.Power(b, e).ToArray<int>());
        Assert.Equal(DType.Int32, Mx.Power(b, e).DType);
        H.Close(new double[] { 4, 0.5 }, Mx.Power(Mx.Array(new[] { 2f, 0.25f }), Mx.Array(new[] { 2f, 0.5f })));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1023)]
    public void MaximumMinimumPropagateNaN(int n)
    {
        foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
        {
            var a = H.Rand(n, 2);
            var b = H.Rand(n, 3);
            a[n - 1] = double.NaN;
            b[n / 2] = double.NaN;
            var x = Mx.Array(a, t);
            var y = Mx.Array(b, t);
            var mx = Mx.Maximum(x, y).ToArray<double>();
            var mn = Mx.Minimum(x, y).ToArray<double>();
            var ra = H.RoundTo(a, t);
            var rb = H.RoundTo(b, t);
            for (int i = 0; i < n; i++)
            {
                bool nan = double.IsNaN(a[i]) || double.IsNaN(b[i]);
                Assert.True(nan ? double.IsNaN(mx[i]) : mx[i] == Math.Max(ra[i], rb[i]), $"max {t} n={n} i={i}: {mx[i]}");
                Assert.True(nan ? double.IsNaN(mn[i]) : mn[i] == Math.Min(ra[i], rb[i]), $"min {t} n={n} i={i}: {mn[i]}");
            }
            // Scalar broadcast on either side.
            Assert.True(double.IsNaN(Mx.Maximum(Mx.Array(float.NaN), Mx.Array(new[] { 1f, 2f })).ToArray<float>()[1]));
            Assert.True(double.IsNaN(Mx.Minimum(Mx.Array(new[] { 1f, 2f }), Mx.Array(float.NaN)).ToArray<float>()[0]));
        }
    }

    [Theory]
    [MemberData(nameof(H.OddSizeData), MemberType = typeof(H))]
    public void AddOverOddSizesAndNonContiguousViews(int n)
    {
        var a = H.Rand(n, 11);
        var b = H.Rand(n, 12);
        var expected = a.Zip(b, (p, q) => (double)((float)p + (float)q)).ToArray();
        H.Close(expected, Mx.Array(a, DType.Float32) + Mx.Array(b, DType.Float32));
        // Negative-step views on both sides.
        var ra = H.ReversedView(a.Select(v => (float)v).ToArray());
        var rb = H.ReversedView(b.Select(v => (float)v).ToArray());
        H.Close(expected, ra + rb);
        H.Close(a.Zip(b, (p, q) => (double)((float)p * (float)q)).ToArray(), ra * Mx.Array(b, DType.Float32), 1e-6);
        // Integer path too.
        var ia = a.Select(v => (int)(v * 100)).ToArray();
        var ib = b.Select(v => (int)(v * 100)).ToArray();
        Assert.Equal(ia.Zip(ib, (p, q) => p - q).ToArray(), (H.ReversedView(ia) - Mx.Array(ib)).ToArray<int>());
    }

    [Fact]
    public void BroadcastingShapes()
    {
        var col = Mx.Array(new[] { 1f, 2f, 3f }, new[] { 3, 1 });
        var row = Mx.Array(new[] { 10f, 20f, 30f, 40f }, new[] { 1, 4 });
        var s = col + row;
        H.Shape(new[] { 3, 4 }, s);
        Assert.Equal(new[] { 11f, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43 }, s.ToArray<float>());
        var m = Mx.Reshape(Mx.Arange(0, 6), new[] { 2, 3 });
        Assert.Equal(new[] { 0, 2, 4, 3, 5, 7 }, (m + Mx.Array(new[] { 0, 1, 2 })).ToArray<int>());
        H.Shape(new[] { 2, 0 }, Mx.Zeros(new[] { 2, 1 }) + Mx.Zeros(new[] { 0 }));
        H.Shape(new[] { 5, 2, 3 }, Mx.Zeros(new[] { 5, 1, 3 }) * Mx.Zeros(new[] { 2, 1 }));
        Assert.Throws<ArgumentException>(() => Mx.Zeros(new[] { 2, 3 }) + Mx.Zeros(new[] { 4 }));
        // Transposed operand broadcast against a row.
        var t = Mx.Transpose(Mx.Reshape(Mx.Arange(0, 6), new[] { 3, 2 }));
        Assert.Equal(new[] { 0, 7, 14, 1, 8, 15 }, (t + Mx.Array(new[] { 0, 1, 2 }) * 5 + Mx.Array(new[] { 0 }, new[] { 1 })).ToArray<int>());
    }

    [Fact]
    public void EmptyOperands()
    {
        var e = Mx.Zeros(new[] { 0 });
        Assert.Empty((e + e).ToArray<float>());
        Assert.Empty((e * 2.0f).ToArray<float>());
        Assert.Empty(Mx.Maximum(e, e).ToArray<float>());
        Assert.Empty((Mx.Zeros(new[] { 0, 3 }, DType.Int32) % 2).ToArray<int>());
    }

    [Fact]
    public void LogAddExpIsStable()
    {
        var a = Mx.Array(new[] { 0.0, 1000, -1000, double.NegativeInfinity, 2, double.PositiveInfinity, double.NaN });
        var b = Mx.Array(new[] { 0.0, 1000, -1000, double.NegativeInfinity, 3, 1, 0 });
        H.Close(new[] { Math.Log(2), 1000 + Math.Log(2), -1000 + Math.Log(2), double.NegativeInfinity, 3 + Math.Log(1 + Math.Exp(-1)), double.PositiveInfinity, double.NaN }, Mx.LogAddExp(a, b), 1e-12);
        Assert.Equal(DType.Float32, Mx.LogAddExp(Mx.Array(new[] { 1 }), Mx.Array(new[] { 2 })).DType);
    }

    [Fact]
    public void ArcTan2Quadrants()
    {
        var y = Mx.Array(new[] { 1f, 1, -1, -1, 0 });
        var x = Mx.Array(new[] { 1f, -1, -1, 1, -1 });
        H.Close(new[] { Math.Atan2(1, 1), Math.Atan2(1, -1), Math.Atan2(-1, -1), Math.Atan2(-1, 1), Math.PI }, Mx.ArcTan2(y, x));
    }

    [Fact]
    public void BitwiseAndShifts()
    {
        var a = Mx.Array(new[] { 12, -8, 255, 1 });
        var b = Mx.Array(new[] { 10, 1, 15, 31 });
        Assert.Equal(new[] { 8, 0, 15, 1 }, (a & b).ToArray<int>());
        Assert.Equal(new[] { 14, -7, 255, 31 }, (a | b).ToArray<int>());
        Assert.Equal(new[] { 6, -7, 240, 30 }, (a ^ b).ToArray<int>());
        Assert.Equal(new[] { 12 << 10, -16, 255 << 15, int.MinValue }, Mx.LeftShift(a, b).ToArray<int>());
        Assert.Equal(new[] { 0, -4, 0, 0 }, Mx.RightShift(a, b).ToArray<int>());
        // Shifting by the bit width or more saturates instead of masking the count.
        Assert.Equal(new byte[] { 0 }, Mx.LeftShift(Mx.Array(new byte[] { 1 }), Mx.Array(new byte[] { 8 })).ToArray<byte>());
        Assert.Equal(new[] { -1 }, Mx.RightShift(Mx.Array(new[] { -5 }), Mx.Array(new[] { 40 })).ToArray<int>());
        Assert.Equal(new sbyte[] { -6, 4 }, (~Mx.Array(new sbyte[] { 5, -5 })).ToArray<sbyte>());
        Assert.Equal(new byte[] { 255 }, (~Mx.Array(new byte[] { 0 })).ToArray<byte>());
        Assert.Throws<ArgumentException>(() => Mx.BitwiseAnd(Mx.Array(new[] { 1f }), Mx.Array(new[] { 1f })));
        Assert.Throws<ArgumentException>(() => Mx.BitwiseInvert(Mx.Array(new[] { 1f })));
    }

    [Fact]
    public void ComplexArithmetic()
    {
        var a = Mx.Array(new[] { new Complex64(1, 2), new Complex64(3, -1) });
        var b = Mx.Array(new[] { new Complex64(0, 1), new Complex64(2, 2) });
        var p = (a * b).ToArray<Complex64>();
        Assert.Equal(new Complex64(-2, 1), p[0]);
        Assert.Equal(new Complex64(8, 4), p[1]);
        var s = (a + b).ToArray<Complex64>();
        Assert.Equal(new Complex64(1, 3), s[0]);
        var q = (a / b).ToArray<Complex64>();
        Assert.Equal(2f, q[0].Real, 5);
        Assert.Equal(-1f, q[0].Imag, 5);
        // Mixed with real: promotes to complex.
        var m = (a * Mx.Array(new[] { 2f, 3f })).ToArray<Complex64>();
        Assert.Equal(new Complex64(2, 4), m[0]);
        Assert.Equal(new Complex64(9, -3), m[1]);
    }

    [Fact]
    public void HalfPrecisionRoundsEachResult()
    {
        // 1 + 2^-11 is not a float16; 1 + 2^-8 is not a bfloat16: the sums round back to 1 (ties to even).
        var h = Mx.Array(new[] { (Half)1 }) + Mx.Array(new[] { (Half)Math.Pow(2, -11) });
        Assert.Equal(1.0, h.AsType(DType.Float64).Item<double>());
        var bf = Mx.Array(new[] { (BFloat16)1f }) + Mx.Array(new[] { (BFloat16)(float)Math.Pow(2, -8) });
        Assert.Equal(1.0, bf.AsType(DType.Float64).Item<double>());
        Assert.Equal(DType.BFloat16, bf.DType);
        // float16 overflow goes to inf.
        Assert.True(double.IsPositiveInfinity((Mx.Array(new[] { (Half)60000 }) * 2).AsType(DType.Float64).Item<double>()));
    }

    [Fact]
    public void WhereSelectsWithBroadcastAndPromotion()
    {
        var c = Mx.Array(new[] { true, false, true });
        var r = Mx.Where(c, Mx.Array(new[] { 1, 2, 3 }), Mx.Array(new[] { 0.5f }));
        Assert.Equal(DType.Float32, r.DType);
        Assert.Equal(new[] { 1f, 0.5f, 3f }, r.ToArray<float>());
        var w = Mx.Where(Mx.Array(new[] { 1, 0 }, new[] { 2, 1 }), Mx.Array(new[] { 1, 2, 3 }), 0);
        Assert.Equal(new[] { 1, 2, 3, 0, 0, 0 }, w.ToArray<int>());
        var d = Mx.Where(c, Mx.Array(new[] { 1.0, 2, 3 }), Mx.Array(new[] { 9.0, 8, 7 })[Idx.Slice(null, null, -1)]);
        Assert.Equal(new[] { 1.0, 8, 3 }, d.ToArray<double>());
        Assert.Equal(new long[] { 5, 0, 5 }, Mx.Where(c, Mx.Array(new[] { 5L }), Mx.Array(new[] { 0L })).ToArray<long>());
    }

    [Fact]
    public void RowsOfABroadcastMultiDimViewAreWalkedInOrder()
    {
        // A max-pool gradient's layout: x (N, H, 2, W, 2, C) against y (N, H, 1, W, 1, C) broadcast, with rows of C
        // elements; enough rows that two threads split them at an odd place, and a transposed operand beside.
        int[] xs = { 419, 5, 2, 7, 2, 3 };
        int n = xs.Aggregate(1, (p, d) => p * d);
        var xv = H.Rand(n, 31, -3, 3).Select(v => Math.Round(v)).ToArray();
        var yv = H.Rand(n / 4, 32, -3, 3).Select(v => Math.Round(v)).ToArray();
        var x = Mx.Array(xv, xs);
        var y = Mx.Array(yv, new[] { 419, 5, 1, 7, 1, 3 });
        int YIndex(int i)
        {
            int c = i % 3, w = i / 6 % 7, h = i / 84 % 5, b = i / 420;
            return ((b * 5 + h) * 7 + w) * 3 + c;
        }
        var sum = Mx.Add(x, y).ToArray<double>();
        var eq = Mx.Equal(x, y).ToArray<bool>();
        var pick = Mx.Where(Mx.Greater(x, 0), y, x).ToArray<double>();
        var copy = Mx.Contiguous(Mx.BroadcastTo(y, xs)).ToArray<double>();
        for (int i = 0; i < n; i++)
        {
            double yi = yv[YIndex(i)];
            Assert.Equal(xv[i] + yi, sum[i]);
            Assert.Equal(xv[i] == yi, eq[i]);
            Assert.Equal(xv[i] > 0 ? yi : xv[i], pick[i]);
            Assert.Equal(yi, copy[i]);
        }
        // A transposed operand (rows of the output cross its columns) with a broadcast one.
        var t = Mx.Array(H.Rand(3 * 37 * 5, 33), new[] { 3, 37, 5 });
        var tt = Mx.Transpose(t, new[] { 1, 2, 0 });                       // (37, 5, 3), strides (5, 1, 185)
        var r = Mx.Multiply(tt, Mx.Array(new[] { 1.0, 10, 100 })).ToArray<double>();
        var tv = t.ToArray<double>();
        for (int b = 0; b < 37; b++)
            for (int h = 0; h < 5; h++)
                for (int c = 0; c < 3; c++)
                    Assert.Equal(tv[(c * 37 + b) * 5 + h] * Math.Pow(10, c), r[(b * 5 + h) * 3 + c], 12);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    [InlineData(DType.Int16)]
    public void WhereOverOneLongRunSplitAcrossThreadsMatchesTheScalarRule(DType dtype)
    {
        // 3 x 70001: one contiguous run of 210003 elements with a broadcast scalar, split between threads at odd
        // places; the comparison that builds the mask runs vectorized with a tail.
        var xs = H.Rand(3 * 70001, 21, -5, 5).Select(v => Math.Round(v)).ToArray();
        var ys = H.Rand(3 * 70001, 22, -5, 5).Select(v => Math.Round(v)).ToArray();
        var x = Mx.AsType(Mx.Array(xs, new[] { 3, 70001 }), dtype);
        var y = Mx.AsType(Mx.Array(ys, new[] { 3, 70001 }), dtype);
        var mask = Mx.GreaterEqual(x, y);
        var picked = Mx.Where(mask, x, Mx.AsType(Mx.Array(-9.0), dtype));
        var other = Mx.Where(Mx.Less(x, 0), Mx.AsType(Mx.Array(7.0), dtype), y);
        var gotMask = mask.ToArray<bool>();
        var got = picked.AsType(DType.Float64).ToArray<double>();
        var got2 = other.AsType(DType.Float64).ToArray<double>();
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.Equal(xs[i] >= ys[i], gotMask[i]);
            Assert.Equal(xs[i] >= ys[i] ? xs[i] : -9, got[i]);
            Assert.Equal(xs[i] < 0 ? 7 : ys[i], got2[i]);
        }
    }

    [Theory]
    [InlineData(9, 1)]
    [InlineData(37, 7)]
    [InlineData(20, 1024)]
    [InlineData(1000, 33)]
    [InlineData(5, 4096)]
    [InlineData(12, 5000)]
    public void RowVectorAgainstEveryRowOnEitherSide(int rows, int cols)
    {
        // A row broadcast over many rows takes a repeated-row path: both sides of non-commutative ops, comparisons
        // (bool output), integers, and rows that do not fill the last block.
        var m = H.RandF(rows * cols, 21, -3, 3);
        var v = H.RandF(cols, 22, 0.5, 2);
        var a = Mx.Array(m, new[] { rows, cols });
        var r = Mx.Array(v);
        var sub = Mx.Subtract(a, r).ToArray<float>();
        var div = Mx.Divide(r, a).ToArray<float>();
        var less = Mx.Less(r, a).ToArray<bool>();
        var ints = Mx.Subtract(Mx.AsType(r, DType.Int32), Mx.AsType(a, DType.Int32)).ToArray<int>();
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                int k = i * cols + j;
                Assert.Equal(m[k] - v[j], sub[k]);
                Assert.Equal(v[j] / m[k], div[k]);
                Assert.Equal(v[j] < m[k], less[k]);
                Assert.Equal((int)v[j] - (int)m[k], ints[k]);
            }
    }

    [Theory]
    [InlineData(-1f, 1f)]
    [InlineData(0f, 6f)]      // relu6: zeros of both signs land on the bound
    [InlineData(-0f, 0f)]
    [InlineData(2f, -2f)]     // a_min above a_max: every element becomes a_max, as NumPy's clip
    public void ClipWithScalarBoundsIsOnePassAndBitwiseTheTwoOps(float lo, float hi)
    {
        // 3 tiles and an odd tail; NaN, signed zeros, infinities and the bounds themselves among the values.
        var v = H.RandF(3 * (8192 + 37), 41, -8, 8);
        float[] specials = { float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, lo, hi, -lo, 6f };
        for (int i = 0; i < v.Length; i += 7) v[i] = specials[i / 7 % specials.Length];
        var x = Mx.Array(v, new[] { 3, v.Length / 3 });
        var got = Mx.Clip(x, Mx.Array(lo), Mx.Array(hi)).ToArray<float>();
        var want = Mx.Minimum(Mx.Maximum(x, Mx.Array(lo)), Mx.Array(hi)).ToArray<float>();
        for (int i = 0; i < v.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]) || (float.IsNaN(want[i]) && float.IsNaN(got[i])),
                $"clip({v[i]:R}, {lo}, {hi}) = {got[i]:R}, two ops give {want[i]:R}");
            float expected = float.IsNaN(v[i]) ? float.NaN : lo > hi ? hi : Math.Min(Math.Max(v[i], lo), hi);
            Assert.True(expected.Equals(got[i]), $"clip({v[i]:R}, {lo}, {hi}) = {got[i]:R}");
        }
    }

    [Fact]
    public void ClipBoundsAndNaN()
    {
        var a = Mx.Array(new[] { -3f, 0.5f, 7f, float.NaN });
        H.Close(new double[] { -1, 0.5, 2, double.NaN }, Mx.Clip(a, Mx.Array(-1f), Mx.Array(2f)));
        H.Close(new double[] { 0, 0.5, 7, double.NaN }, Mx.Clip(a, Mx.Array(0f), null));
        Assert.Throws<ArgumentException>(() => Mx.Clip(a, null, null));
        // Both bounds run fused for float32: a large odd size with NaNs, per-column bounds, a view, other dtypes, the gradient.
        var v = H.RandF(77 * 131, 7, -3, 3);
        v[5] = float.NaN;
        var m = Mx.Array(v, new[] { 77, 131 });
        var lo = H.RandF(131, 8, -2, 0);
        var hi = H.RandF(131, 9, 0, 2);
        var got = Mx.Clip(m, Mx.Array(lo), Mx.Array(hi)).ToArray<float>();
        for (int i = 0; i < v.Length; i++)
        {
            float want = float.IsNaN(v[i]) ? float.NaN : Math.Min(Math.Max(v[i], lo[i % 131]), hi[i % 131]);
            Assert.Equal(want, got[i]);
        }
        var t = Mx.Clip(Mx.Transpose(m), Mx.Array(-1f), Mx.Array(1f)).ToArray<float>();
        for (int r = 0; r < 131; r++)
            for (int c = 0; c < 77; c++)
            {
                float x = v[c * 131 + r];
                Assert.Equal(float.IsNaN(x) ? float.NaN : Math.Min(Math.Max(x, -1f), 1f), t[r * 77 + c]);
            }
        Assert.Equal(new[] { -1, 0, 2, 2 }, Mx.Clip(Mx.Array(new[] { -4, 0, 2, 9 }), Mx.Array(-1), Mx.Array(2)).ToArray<int>());
        var g = Mx.Grad(x => Mx.Sum(Mx.Clip(x, Mx.Array(-1f), Mx.Array(1f))))(Mx.Array(new[] { -3f, 0.5f, -0.25f, 7f })).ToArray<float>();
        Assert.Equal(new[] { 0f, 1f, 1f, 0f }, g);
    }

    [Fact]
    public void IsCloseAllCloseArrayEqual()
    {
        var a = Mx.Array(new[] { 1f, 2f, float.NaN, float.PositiveInfinity });
        var b = Mx.Array(new[] { 1f + 1e-6f, 2.1f, float.NaN, float.PositiveInfinity });
        Assert.Equal(new[] { true, false, false, true }, Mx.IsClose(a, b).ToArray<bool>());
        Assert.Equal(new[] { true, false, true, true }, Mx.IsClose(a, b, equalNan: true).ToArray<bool>());
        Assert.False(Mx.AllClose(a, b).Item<bool>());
        Assert.True(Mx.AllClose(Mx.Array(new[] { 1f }), Mx.Array(new[] { 1.05f }), rtol: 0.1).Item<bool>());
        Assert.True(Mx.ArrayEqual(a, a, equalNan: true).Item<bool>());
        Assert.False(Mx.ArrayEqual(a, a).Item<bool>());
        Assert.False(Mx.ArrayEqual(Mx.Zeros(new[] { 2 }), Mx.Zeros(new[] { 3 })).Item<bool>());
        Assert.True(Mx.ArrayEqual(Mx.Array(new[] { 1, 2 }), Mx.Array(new[] { 1f, 2f })).Item<bool>());
        // MLX test_array_equal: NaN equal to NaN only with equal_nan, in every float type and complex64.
        foreach (var t in new[] { DType.Float32, DType.Float16, DType.BFloat16, DType.Complex64, DType.Float64 })
        {
            var x = Mx.Array(new[] { 0f, float.NaN }).AsType(t);
            var y = Mx.Array(new[] { 0f, float.NaN }).AsType(t);
            Assert.False(Mx.ArrayEqual(x, y).Item<bool>());
            Assert.True(Mx.ArrayEqual(x, y, equalNan: true).Item<bool>(), t.ToString());
        }
    }

    [Fact]
    public void LargeBroadcastsSplitAcrossThreads()
    {
        int r = 300, c = 301;
        var a = Mx.Reshape(Mx.Arange(0, r * c), new[] { r, c });
        var col = Mx.Reshape(Mx.Arange(0, r), new[] { r, 1 });
        var row = Mx.Arange(0, c);
        var s = (a - col * c - row).ToArray<int>();
        Assert.All(s, v => Assert.Equal(0, v));
        var t = (Mx.Transpose(a) + 1).ToArray<int>();
        Assert.Equal(1, t[0]);
        Assert.Equal(c + 1, t[1]);
        Assert.Equal(r * c, t[^1]);
        var big = Mx.Arange(0.0, 200000.0, 1.0, DType.Float64);
        var sq = (big * big).ToArray<double>();
        Assert.Equal(199999.0 * 199999.0, sq[^1]);
        Assert.Equal(4.0, sq[2]);
        Assert.Equal(new[] { 0.0, 1, 4 }, (big[Idx.Slice(null, null, -1)] * 0 + big)[..3].ToArray<double>().Select(v => v * v).ToArray());
    }

    [Theory]
    [MemberData(nameof(NumericTypes))]
    public void EveryNumericTypeOverOddSizesAndReversedViews(DType t)
    {
        foreach (int n in H.OddSizes)
        {
            // Small non-negative integers are exact in every type, including the unsigned and 8-bit ones.
            var a = Enumerable.Range(0, n).Select(i => (double)((i * 7 + 3) % 11)).ToArray();
            var b = Enumerable.Range(0, n).Select(i => (double)((i * 5 + 1) % 9 + 1)).ToArray();
            var x = Mx.Array(a, t);
            var y = Mx.Array(b, t);
            var yr = Mx.Array(b.Reverse().ToArray(), t)[Idx.Slice(null, null, -1)];
            H.Close(a.Zip(b, (p, q) => p + q).ToArray(), x + yr, 0, 0, $"{t} add n={n}");
            H.Close(a.Zip(b, (p, q) => p * q).ToArray(), yr * x, 0, 0, $"{t} mul n={n}");
            H.Close(a.Zip(b, Math.Max).ToArray(), Mx.Maximum(x, yr), 0, 0, $"{t} max n={n}");
            H.Close(a.Zip(b, Math.Min).ToArray(), Mx.Minimum(yr, x), 0, 0, $"{t} min n={n}");
            H.Close(a.Zip(b, (p, q) => p + 10 - q).ToArray(), x + 10 - y, 0, 0, $"{t} sub n={n}");
            H.Close(a.Zip(b, (p, q) => Math.Floor(p / q)).ToArray(), Mx.FloorDivide(x, yr), 0, 0, $"{t} floordiv n={n}");
            H.Close(a.Zip(b, (p, q) => p % q).ToArray(), x % y, 0, 0, $"{t} rem n={n}");
            Assert.Equal(a.Zip(b, (p, q) => p < q).ToArray(), (x < yr).ToArray<bool>());
            // Broadcast against a scalar array of the same type on either side.
            var two = Mx.Array(new[] { 2.0 }, t);
            H.Close(a.Select(p => 2 * p).ToArray(), two * x, 0, 0, $"{t} bcast n={n}");
            H.Close(a.Select(p => p + 2).ToArray(), x + two, 0, 0, $"{t} bcast n={n}");
        }
    }

    private static IEnumerable<int[]> Permutations(int n)
    {
        if (n == 1) { yield return new[] { 0 }; yield break; }
        foreach (var p in Permutations(n - 1))
            for (int i = 0; i <= p.Length; i++)
                yield return p.Take(i).Append(n - 1).Concat(p.Skip(i)).ToArray();
    }

    // Element of a row-major array of `shape` at `idx` after permuting axes by `perm` (out[i...] = in[idx[perm^-1]]).
    private static int At(int[] data, int[] shape, int[] perm, int[] outIdx)
    {
        var inIdx = new int[shape.Length];
        for (int k = 0; k < perm.Length; k++) inIdx[perm[k]] = outIdx[k];
        int off = 0;
        for (int k = 0; k < shape.Length; k++) off = off * shape[k] + inIdx[k];
        return data[off];
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void IrregularTransposedAndStridedOperands(int d)
    {
        // After MLX's test_irregular_binary_ops: every pair of axis permutations, then a step-2 slice on each axis.
        int size = 3;
        var shape = Enumerable.Repeat(size, d).ToArray();
        int total = (int)Math.Pow(size, d);
        var r = new Random(d);
        var an = Enumerable.Range(0, total).Select(_ => r.Next(-20, 20)).ToArray();
        var bn = Enumerable.Range(0, total).Select(_ => r.Next(-20, 20)).ToArray();
        var a = Mx.Array(an, shape);
        var b = Mx.Array(bn, shape);
        var perms = Permutations(d).ToArray();
        var identity = Enumerable.Range(0, d).ToArray();
        foreach (var pa in perms)
        {
            foreach (var pb in perms.Where((_, i) => i % 3 == 0))
            {
                var got = (Mx.Transpose(a, pa) + Mx.Transpose(b, pb)).ToArray<int>();
                var idx = new int[d];
                for (int e = 0; e < total; e++)
                {
                    int rem = e;
                    for (int k = d - 1; k >= 0; k--) { idx[k] = rem % size; rem /= size; }
                    Assert.Equal(At(an, shape, pa, idx) + At(bn, shape, pb, idx), got[e]);
                }
            }
            for (int s = 0; s < d; s++)
            {
                var sl = Enumerable.Range(0, d).Select(k => k == s ? Idx.Slice(null, null, 2) : (Idx)(..)).ToArray();
                var got = (Mx.Transpose(a, pa)[sl] + b[sl]).ToArray<int>();
                var oshape = Enumerable.Range(0, d).Select(k => k == s ? 2 : size).ToArray();
                var idx = new int[d];
                for (int e = 0; e < got.Length; e++)
                {
                    int rem = e;
                    for (int k = d - 1; k >= 0; k--) { idx[k] = rem % oshape[k]; rem /= oshape[k]; }
                    var src = idx.Select((v, k) => k == s ? 2 * v : v).ToArray();
                    Assert.Equal(At(an, shape, pa, src) + At(bn, shape, identity, src), got[e]);
                }
            }
        }
        // Broadcast operands with size-1 axes in shuffled places.
        for (int nb = 0; nb < d; nb++)
        {
            var bshape = Enumerable.Repeat(1, d - nb).Concat(Enumerable.Repeat(size, nb)).OrderBy(_ => r.Next()).ToArray();
            int bt = bshape.Aggregate(1, (x, y) => x * y);
            var bv = Enumerable.Range(0, bt).Select(_ => r.Next(-20, 20)).ToArray();
            var got = (a + Mx.Array(bv, bshape)).ToArray<int>();
            var idx = new int[d];
            for (int e = 0; e < total; e++)
            {
                int rem = e;
                for (int k = d - 1; k >= 0; k--) { idx[k] = rem % size; rem /= size; }
                int boff = 0;
                for (int k = 0; k < d; k++) boff = boff * bshape[k] + (bshape[k] == 1 ? 0 : idx[k]);
                Assert.Equal(an[e] + bv[boff], got[e]);
            }
        }
    }

    [Fact]
    public void WhereWithScalarsFromMlxTests()
    {
        var a = Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 });
        Assert.Equal(new[] { 1, 2, 3, 4 }, Mx.Where(true, a, 1).ToArray<int>());
        Assert.Equal(new[] { 1, 1, 1, 1 }, Mx.Where(true, 1, a).ToArray<int>());
        Assert.Equal(DType.Int32, Mx.Where(true, 1, a).DType);
        var c = Mx.Array(new[] { true, false, false, true }, new[] { 2, 2 });
        Assert.Equal(new[] { 1, 6, 5, 4 }, Mx.Where(c, a, Mx.Array(new[] { 5, 6 })).ToArray<int>());
    }
}
