namespace Mlx.Core.Tests;

/// <summary>Sum, Prod, Max, Min, All, Any, Mean, Var, Std, ArgMax, ArgMin, Median.</summary>
public class ReductionTests
{
    [Theory]
    [MemberData(nameof(H.OddSizeData), MemberType = typeof(H))]
    public void FullReductionsOverOddSizes(int n)
    {
        var v = H.Rand(n, 21);
        var f = v.Select(x => (float)x).ToArray();
        var a = Mx.Array(f);
        Assert.Equal(f.Sum(x => (double)x), Mx.Sum(a).Item<float>(), 1e-3);
        Assert.Equal(n == 0 ? 0 : f.Average(x => (double)x), n == 0 ? 0 : Mx.Mean(a).Item<float>(), 1e-5);
        var rev = H.ReversedView(f);
        Assert.Equal(f.Sum(x => (double)x), Mx.Sum(rev).Item<float>(), 1e-3);
        if (n > 0)
        {
            Assert.Equal(f.Max(), Mx.Max(a).Item<float>());
            Assert.Equal(f.Min(), Mx.Min(rev).Item<float>());
            Assert.Equal((uint)Array.IndexOf(f, f.Max()), Mx.ArgMax(a).Item<uint>());
            Assert.Equal((uint)Array.IndexOf(f, f.Min()), Mx.ArgMin(a).Item<uint>());
            var small = v.Select(x => 1 + x / 64).ToArray();
            Assert.Equal(small.Aggregate(1.0, (p, q) => p * q), Mx.Prod(Mx.Array(small)).Item<double>(), 1e-9);
        }
        var ints = v.Select(x => (int)(x * 1000)).ToArray();
        Assert.Equal(ints.Sum(), Mx.Sum(Mx.Array(ints)).Item<int>());
        Assert.Equal(ints.Sum(), Mx.Sum(H.ReversedView(ints)).Item<int>());
    }

    [Fact]
    public void AxisReductionsOnMatrix()
    {
        int r = 17, c = 33;
        var v = H.Rand(r * c, 22);
        var a = Mx.Array(v, new[] { r, c });
        var rowSums = Enumerable.Range(0, r).Select(i => Enumerable.Range(0, c).Sum(j => v[i * c + j])).ToArray();
        var colSums = Enumerable.Range(0, c).Select(j => Enumerable.Range(0, r).Sum(i => v[i * c + j])).ToArray();
        var colMax = Enumerable.Range(0, c).Select(j => Enumerable.Range(0, r).Max(i => v[i * c + j])).ToArray();
        H.Close(rowSums, Mx.Sum(a, 1), 1e-12, 1e-12);
        H.Close(rowSums, Mx.Sum(a, -1), 1e-12, 1e-12);
        H.Close(colSums, Mx.Sum(a, 0), 1e-12, 1e-12);
        H.Close(colMax, Mx.Max(a, 0), 0, 0);
        H.Shape(new[] { 1, c }, Mx.Sum(a, 0, keepDims: true));
        H.Shape(new[] { r, 1 }, Mx.Min(a, 1, keepDims: true));
        H.Shape(new[] { 1, 1 }, Mx.Sum(a, new[] { 0, 1 }, keepDims: true));
        H.Shape(Array.Empty<int>(), Mx.Sum(a));
        Assert.Equal(v.Sum(), Mx.Sum(a, new[] { 1, 0 }).Item<double>(), 1e-10);
        // The same on the transposed view.
        var t = Mx.Transpose(a);
        H.Close(rowSums, Mx.Sum(t, 0), 1e-12, 1e-12);
        H.Close(colSums, Mx.Sum(t, 1), 1e-12, 1e-12);
        H.Close(colMax, Mx.Max(t, 1), 0, 0);
        var argmax = Enumerable.Range(0, c).Select(j => (double)Enumerable.Range(0, r).OrderByDescending(i => v[i * c + j]).First()).ToArray();
        H.Close(argmax, Mx.ArgMax(a, 0), 0, 0);
        H.Close(argmax, Mx.ArgMax(t, 1), 0, 0);
        Assert.Throws<ArgumentException>(() => Mx.Sum(a, 2));
        Assert.Throws<ArgumentException>(() => Mx.Sum(a, new[] { 0, 0 }));
    }

    [Fact]
    public void ThreeDimensionalMiddleAxis()
    {
        var a = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        Assert.Equal(new[] { 12, 15, 18, 21, 48, 51, 54, 57 }, Mx.Sum(a, 1).ToArray<int>());
        Assert.Equal(new[] { 60, 66, 72, 78 }, Mx.Sum(a, new[] { 0, 1 }).ToArray<int>());
        Assert.Equal(new[] { 6, 22, 38, 54, 70, 86 }, Mx.Sum(a, 2).ToArray<int>());
        Assert.Equal(new[] { 8, 9, 10, 11, 20, 21, 22, 23 }, Mx.Max(a, 1).ToArray<int>());
    }

    [Fact]
    public void SumAndProdTypesFollowMlx()
    {
        Assert.Equal(DType.Int32, Mx.Sum(Mx.Array(new[] { true, true, false })).DType);
        Assert.Equal(2, Mx.Sum(Mx.Array(new[] { true, true, false })).Item<int>());
        Assert.Equal(DType.Int32, Mx.Sum(Mx.Array(new sbyte[] { 100, 100 })).DType);
        Assert.Equal(200, Mx.Sum(Mx.Array(new sbyte[] { 100, 100 })).Item<int>());
        Assert.Equal(DType.Int32, Mx.Sum(Mx.Array(new short[] { 30000, 30000 })).DType);
        Assert.Equal(60000, Mx.Sum(Mx.Array(new short[] { 30000, 30000 })).Item<int>());
        Assert.Equal(DType.UInt32, Mx.Sum(Mx.Array(new byte[] { 200, 100 })).DType);
        Assert.Equal(300u, Mx.Sum(Mx.Array(new byte[] { 200, 100 })).Item<uint>());
        Assert.Equal(DType.UInt32, Mx.Sum(Mx.Array(new ushort[] { 60000, 60000 })).DType);
        Assert.Equal(DType.Int32, Mx.Sum(Mx.Array(new[] { 1 })).DType);
        Assert.Equal(DType.Int64, Mx.Sum(Mx.Array(new[] { 1L })).DType);
        Assert.Equal(DType.UInt64, Mx.Sum(Mx.Array(new[] { 1UL })).DType);
        Assert.Equal(DType.Float16, Mx.Sum(Mx.Array(new[] { (Half)1 })).DType);
        Assert.Equal(DType.BFloat16, Mx.Sum(Mx.Array(new[] { (BFloat16)1f })).DType);
        Assert.Equal(DType.Int32, Mx.Prod(Mx.Array(new sbyte[] { 100, 100 })).DType);
        Assert.Equal(10000, Mx.Prod(Mx.Array(new sbyte[] { 100, 100 })).Item<int>());
        Assert.Equal(DType.Float32, Mx.Mean(Mx.Array(new[] { 1, 2 })).DType);
        Assert.Equal(1.5f, Mx.Mean(Mx.Array(new[] { 1, 2 })).Item<float>());
        Assert.Equal(DType.Bool, Mx.All(Mx.Array(new[] { 1, 2 })).DType);
        Assert.Equal(DType.Int8, Mx.Max(Mx.Array(new sbyte[] { -5, 3 })).DType);
    }

    [Fact]
    public void HalfAndBFloatSums()
    {
        var v = Enumerable.Range(0, 33).Select(i => i * 0.25).ToArray();
        Assert.Equal(v.Sum(), Mx.Sum(Mx.Array(v, DType.Float16)).AsType(DType.Float64).Item<double>(), 1e-1);
        Assert.Equal(v.Sum(), Mx.Sum(Mx.Array(v, DType.BFloat16)).AsType(DType.Float64).Item<double>(), 1.5);
        Assert.Equal(8.0, Mx.Max(Mx.Array(v, DType.BFloat16)).AsType(DType.Float64).Item<double>());
    }

    [Fact]
    public void EmptyReductions()
    {
        var e = Mx.Zeros(new[] { 0 });
        Assert.Equal(0f, Mx.Sum(e).Item<float>());
        Assert.Equal(1f, Mx.Prod(e).Item<float>());
        Assert.True(Mx.All(e).Item<bool>());
        Assert.False(Mx.Any(e).Item<bool>());
        Assert.Equal(0, Mx.Sum(Mx.Zeros(new[] { 0 }, DType.Int32)).Item<int>());
        Assert.Equal(1, Mx.Prod(Mx.Zeros(new[] { 0 }, DType.Int8)).Item<int>());
        var m = Mx.Zeros(new[] { 3, 0 });
        Assert.Equal(new[] { 0f, 0f, 0f }, Mx.Sum(m, 1).ToArray<float>());
        Assert.Equal(new[] { 1f, 1f, 1f }, Mx.Prod(m, 1).ToArray<float>());
        Assert.Empty(Mx.Sum(m, 0).ToArray<float>());
        H.Shape(new[] { 0 }, Mx.Max(m, 0));
        Assert.Throws<ArgumentException>(() => Mx.Max(e));
        Assert.Throws<ArgumentException>(() => Mx.Min(e));
        Assert.Throws<ArgumentException>(() => Mx.Max(m, 1));
        Assert.Throws<ArgumentException>(() => Mx.Logsumexp(e));
        Assert.Throws<ArgumentException>(() => Mx.ArgMax(e));
        Assert.True(double.IsNaN(Mx.Mean(e).Item<float>()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1023)]
    public void NaNPropagatesThroughMaxMin(int n)
    {
        foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
        {
            foreach (int pos in new[] { 0, n / 2, n - 1 })
            {
                var v = H.Rand(n, 23 + pos);
                v[pos] = double.NaN;
                var a = Mx.Array(v, t);
                Assert.True(double.IsNaN(Mx.Max(a).AsType(DType.Float64).Item<double>()), $"max {t} n={n} nan at {pos}");
                Assert.True(double.IsNaN(Mx.Min(a).AsType(DType.Float64).Item<double>()), $"min {t} n={n} nan at {pos}");
                Assert.True(double.IsNaN(Mx.Sum(a).AsType(DType.Float64).Item<double>()));
                Assert.Equal((uint)pos, Mx.ArgMax(a).Item<uint>());
                Assert.Equal((uint)pos, Mx.ArgMin(a).Item<uint>());
            }
        }
    }

    [Fact]
    public void NaNPropagatesThroughAxisMaxMin()
    {
        // Rows reduced along the strided axis 0 (the row-accumulate path), and along axis 1.
        var v = H.Rand(7 * 17, 24);
        v[3 * 17 + 5] = double.NaN;
        var a = Mx.Array(v, new[] { 7, 17 }, DType.Float32);
        var m0 = Mx.Max(a, 0).ToArray<float>();
        var n0 = Mx.Min(a, 0).ToArray<float>();
        for (int j = 0; j < 17; j++)
        {
            Assert.Equal(j == 5, float.IsNaN(m0[j]));
            Assert.Equal(j == 5, float.IsNaN(n0[j]));
        }
        var m1 = Mx.Max(a, 1).ToArray<float>();
        for (int i = 0; i < 7; i++) Assert.Equal(i == 3, float.IsNaN(m1[i]));
    }

    [Fact]
    public void ArgMaxTiesTakeFirstAndTypes()
    {
        Assert.Equal(1u, Mx.ArgMax(Mx.Array(new[] { 1, 5, 5, 2 })).Item<uint>());
        Assert.Equal(0u, Mx.ArgMin(Mx.Array(new[] { 1, 5, 1, 2 })).Item<uint>());
        Assert.Equal(DType.UInt32, Mx.ArgMax(Mx.Array(new[] { 1f })).DType);
        Assert.Equal(1u, Mx.ArgMax(Mx.Array(new[] { false, true, true })).Item<uint>());
        Assert.Equal(new uint[] { 1, 0 }, Mx.ArgMax(Mx.Array(new[] { (Half)1, (Half)3, (Half)4, (Half)2 }, new[] { 2, 2 }), 1).ToArray<uint>());
        H.Shape(new[] { 1, 1 }, Mx.ArgMax(Mx.Zeros(new[] { 2, 3 }), keepDims: true));
        H.Shape(new[] { 2, 1 }, Mx.ArgMin(Mx.Zeros(new[] { 2, 3 }), 1, keepDims: true));
    }

    [Fact]
    public void AllAny()
    {
        var a = Mx.Array(new[] { 1, 0, 3, 4 }, new[] { 2, 2 });
        Assert.False(Mx.All(a).Item<bool>());
        Assert.True(Mx.Any(a).Item<bool>());
        Assert.Equal(new[] { false, true }, Mx.All(a, 1).ToArray<bool>());
        Assert.Equal(new[] { true, true }, Mx.Any(a, 0).ToArray<bool>());
        Assert.True(Mx.Any(Mx.Array(new[] { float.NaN })).Item<bool>());
        Assert.False(Mx.Any(Mx.Zeros(new[] { 1023 })).Item<bool>());
        Assert.True(Mx.All(Mx.Ones(new[] { 1023 }, DType.UInt8)).Item<bool>());
        Assert.False(Mx.All(Mx.Array(new[] { -0.0, 1 })).Item<bool>());
    }

    [Fact]
    public void VarStd()
    {
        var v = new double[] { 2, 4, 4, 4, 5, 5, 7, 9 };
        var a = Mx.Array(v, DType.Float32);
        Assert.Equal(4.0, Mx.Var(a).Item<float>(), 5);
        Assert.Equal(2.0, Mx.Std(a).Item<float>(), 5);
        Assert.Equal(32.0 / 7, Mx.Var(a, ddof: 1).Item<float>(), 5);
        var m = Mx.Array(new[] { 1f, 2, 3, 5, 7, 9 }, new[] { 2, 3 });
        H.Close(new[] { 2.0 / 3, 8.0 / 3 }, Mx.Var(m, 1));
        H.Close(new[] { 4.0, 6.25, 9 }, Mx.Var(m, 0));
        Assert.Equal(DType.Float32, Mx.Var(Mx.Array(new[] { 1, 2 })).DType);
    }

    [Fact]
    public void MedianValuesAndNaN()
    {
        Assert.Equal(2f, Mx.Median(Mx.Array(new[] { 3f, 1, 2 })).Item<float>());
        Assert.Equal(2.5f, Mx.Median(Mx.Array(new[] { 4f, 1, 3, 2 })).Item<float>());
        Assert.Equal(2.5f, Mx.Median(Mx.Array(new[] { 4, 1, 3, 2 })).Item<float>());
        var m = Mx.Array(new[] { 1f, 9, 5, 7, 3, 2 }, new[] { 2, 3 });
        H.Close(new double[] { 5, 3 }, Mx.Median(m, new[] { 1 }));
        H.Close(new double[] { 4, 6, 3.5 }, Mx.Median(m, new[] { 0 }));
        H.Shape(new[] { 2, 1 }, Mx.Median(m, new[] { 1 }, keepDims: true));
        Assert.True(float.IsNaN(Mx.Median(Mx.Array(new[] { 1f, float.NaN, 3f })).Item<float>()));
        var withNaN = Mx.Array(new[] { 1f, float.NaN, 3, 4, 5, 6 }, new[] { 2, 3 });
        var r = Mx.Median(withNaN, new[] { 1 }).ToArray<float>();
        Assert.True(float.IsNaN(r[0]));
        Assert.Equal(5f, r[1]);
        Assert.Throws<ArgumentException>(() => Mx.Median(Mx.Zeros(new[] { 0 })));
        var c = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        var md = Mx.Median(c, new[] { 0, 2 }, keepDims: true);
        H.Shape(new[] { 1, 3, 1 }, md);
        // slice j holds {4j..4j+3} and {12+4j..15+4j}: median (4j+3 + 12+4j) / 2
        H.Close(new[] { 7.5, 11.5, 15.5 }, md);
        H.Close(new[] { 11.5 }, Mx.Reshape(Mx.Median(c), new[] { 1 }));
    }

    [Fact]
    public void LargeReductionsSplitAcrossThreads()
    {
        int n = 1 << 20;
        var ones = Mx.Ones(new[] { n });
        Assert.Equal((float)n, Mx.Sum(ones).Item<float>());
        var v = new float[n];
        v[n - 3] = float.NaN;
        Assert.True(float.IsNaN(Mx.Max(Mx.Array(v)).Item<float>()));
        Assert.True(float.IsNaN(Mx.Min(Mx.Array(v)).Item<float>()));
        v[n - 3] = 5;
        v[10] = -7;
        Assert.Equal(5f, Mx.Max(Mx.Array(v)).Item<float>());
        Assert.Equal(-7f, Mx.Min(Mx.Array(v)).Item<float>());
        Assert.Equal((uint)(n - 3), Mx.ArgMax(Mx.Array(v)).Item<uint>());
        // Column sums of a wide matrix (the row-accumulate path split over columns).
        var m = Mx.Reshape(Mx.Arange(0, 4 * 70000), new[] { 4, 70000 });
        var cs = Mx.Sum(m, 0).ToArray<int>();
        for (int j = 0; j < 70000; j += 9999) Assert.Equal(4 * j + 70000 * (0 + 1 + 2 + 3), cs[j]);
    }

    [Fact]
    public void ComplexSumsAndUnsupportedComplexReductions()
    {
        var z = Mx.Array(new[] { new Complex64(1, 2), new Complex64(3, -1), new Complex64(-0.5f, 0.5f), new Complex64(0, 4) }, new[] { 2, 2 });
        Assert.Equal(new Complex64(3.5f, 5.5f), Mx.Sum(z).Item<Complex64>());
        Assert.Equal(new[] { new Complex64(0.5f, 2.5f), new Complex64(3, 3) }, Mx.Sum(z, 0).ToArray<Complex64>());
        Assert.Equal(new[] { new Complex64(4, 1), new Complex64(-0.5f, 4.5f) }, Mx.Sum(z.T, 0).ToArray<Complex64>());
        H.Shape(new[] { 2, 1 }, Mx.Sum(z, 1, keepDims: true));
        Assert.Equal(DType.Complex64, Mx.Sum(z).DType);
        Assert.Equal(new Complex64(0.875f, 1.375f), Mx.Mean(z).Item<Complex64>());
        Assert.Equal(new Complex64(0, 0), Mx.Sum(Mx.Zeros(new[] { 0 }, DType.Complex64)).Item<Complex64>());
        Assert.Throws<NotSupportedException>(() => Mx.Max(z).ToArray<Complex64>());
        Assert.Throws<NotSupportedException>(() => Mx.Prod(z).ToArray<Complex64>());
        Assert.Throws<NotSupportedException>(() => Mx.Sort(z).ToArray<Complex64>());
        Assert.Throws<NotSupportedException>(() => Mx.Cumsum(z).ToArray<Complex64>());
        Assert.Throws<NotSupportedException>(() => Mx.ArgMax(z).ToArray<uint>());
    }

    [Fact]
    public void NonAdjacentAxesOfThreeDims()
    {
        var a = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        // sum over axes 0 and 2: for each j, sum_i sum_k (12 i + 4 j + k) = 2*4*4j + 4*12 + 2*6 = 32 j + 60
        Assert.Equal(new[] { 60, 92, 124 }, Mx.Sum(a, new[] { 0, 2 }).ToArray<int>());
        Assert.Equal(new[] { 60, 92, 124 }, Mx.Sum(Mx.Transpose(a, new[] { 2, 1, 0 }), new[] { 0, 2 }).ToArray<int>());
        H.Shape(new[] { 1, 3, 1 }, Mx.Sum(a, new[] { 2, 0 }, keepDims: true));
        Assert.Equal(new[] { 23 }, Mx.Max(a, new[] { 0, 1, 2 }, keepDims: true).ToArray<int>());
        Assert.Equal(new[] { 0, 4, 8 }, Mx.Min(a, new[] { 0, 2 }).ToArray<int>());
        Assert.Equal(new[] { false, true, true }, Mx.All(a, new[] { 0, 2 }).ToArray<bool>());
    }

    public static IEnumerable<object[]> RealTypes() => Enum.GetValues<DType>().Where(t => t != DType.Complex64).Select(t => new object[] { t });

    [Theory]
    [MemberData(nameof(RealTypes))]
    public void EveryRealTypeOverOddSizes(DType t)
    {
        foreach (int n in H.OddSizes)
        {
            var v = Enumerable.Range(0, n).Select(i => (double)((i * 7 + 3) % (t == DType.Bool ? 2 : 11))).ToArray();
            var a = Mx.Array(v).AsType(t);
            var rev = Mx.Array(v.Reverse().ToArray()).AsType(t)[Idx.Slice(null, null, -1)];
            // Sums stay exact below 2^11 (float16) except in bfloat16 (8 bits); compare those loosely.
            double tol = t == DType.BFloat16 ? 0.01 : t == DType.Float16 ? 1e-3 : 0;
            H.Close(new[] { v.Sum() }, Mx.Sum(a).AsType(DType.Float64).Reshape1(), tol, 0, $"{t} sum n={n}");
            H.Close(new[] { v.Sum() }, Mx.Sum(rev).AsType(DType.Float64).Reshape1(), tol, 0, $"{t} sum rev n={n}");
            Assert.Equal(v.All(x => x != 0), Mx.All(a).Item<bool>());
            Assert.Equal(v.Any(x => x != 0), Mx.Any(rev).Item<bool>());
            if (n > 0)
            {
                Assert.Equal(v.Max(), Mx.Max(a).AsType(DType.Float64).Item<double>());
                Assert.Equal(v.Min(), Mx.Min(rev).AsType(DType.Float64).Item<double>());
                Assert.Equal((uint)Array.IndexOf(v, v.Max()), Mx.ArgMax(a).Item<uint>());
                Assert.Equal((uint)Array.IndexOf(v, v.Min()), Mx.ArgMin(rev).Item<uint>());
                var sorted = v.OrderBy(x => x).ToArray();
                Assert.Equal(sorted, Mx.Sort(rev).AsType(DType.Float64).ToArray<double>());
                var cs = new double[n];
                double acc = 0;
                for (int i = 0; i < n; i++) cs[i] = acc += v[i];
                if (t is not (DType.Float16 or DType.BFloat16 or DType.Int8 or DType.UInt8))
                {
                    H.Close(cs, Mx.Cumsum(rev), 0, 0, $"{t} cumsum n={n}");
                }
            }
        }
    }

    // Reference sum of a row-major int array over `axes` (kept as size 1), by walking every element.
    private static long[] SumRef(int[] data, int[] shape, int[] axes, out int[] outShape)
    {
        outShape = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var result = new long[outShape.Aggregate(1, (x, y) => x * y)];
        var idx = new int[shape.Length];
        for (int e = 0; e < data.Length; e++)
        {
            int rem = e;
            for (int k = shape.Length - 1; k >= 0; k--) { idx[k] = rem % shape[k]; rem /= shape[k]; }
            int o = 0;
            for (int k = 0; k < shape.Length; k++) o = o * outShape[k] + (axes.Contains(k) ? 0 : idx[k]);
            result[o] += data[e];
        }
        return result;
    }

    private static IEnumerable<int[]> Subsets(int n) =>
        Enumerable.Range(1, (1 << n) - 1).Select(m => Enumerable.Range(0, n).Where(b => (m >> b & 1) != 0).ToArray());

    private static IEnumerable<int[]> Perms(int n) =>
        n == 1 ? new[] { new[] { 0 } } : Perms(n - 1).SelectMany(p => Enumerable.Range(0, n).Select(i => p.Take(i).Append(n - 1).Concat(p.Skip(i)).ToArray()));

    [Fact]
    public void AxisPermutationSumsFromMlxTests()
    {
        // After MLX's test_axis_permutation_sums: every transpose, every set of axes.
        var shape = new[] { 3, 4, 1, 5 };
        var r = new Random(5);
        var data = Enumerable.Range(0, 60).Select(_ => r.Next(-128, 128)).ToArray();
        var x = Mx.Array(data, shape);
        foreach (var p in Perms(4))
        {
            var t = Mx.Transpose(x, p);
            var tshape = p.Select(k => shape[k]).ToArray();
            var tdata = Mx.Contiguous(t).ToArray<int>();
            foreach (var axes in Subsets(4))
            {
                var expected = SumRef(tdata, tshape, axes, out var oshape);
                var got = Mx.Sum(t, axes, keepDims: true);
                H.Shape(oshape, got);
                Assert.Equal(expected, got.ToArray<long>());
            }
        }
    }

    [Fact]
    public void ExpandedBroadcastSumsFromMlxTests()
    {
        var x = Mx.Array(Enumerable.Range(0, 125).Select(i => i % 7 - 3).ToArray(), new[] { 5, 1, 5, 1, 5, 1 });
        var data = x.ToArray<int>();
        foreach (var expand in Subsets(3))
        {
            var shape = new[] { 5, 1, 5, 1, 5, 1 };
            foreach (int e in expand) shape[2 * e + 1] = 3;
            var y = Mx.BroadcastTo(x, shape);
            var ydata = Mx.Contiguous(y).ToArray<int>();
            foreach (var axes in Subsets(6).Where((_, i) => i % 5 == 0))
            {
                var expected = SumRef(ydata, shape, axes, out var oshape);
                Assert.Equal(expected, Mx.Sum(y, axes, keepDims: true).ToArray<long>());
            }
        }
    }

    [Fact]
    public void NegativeStrideRowAndColumnReductions()
    {
        var x = Mx.Reshape(Mx.Arange(1, 131), new[] { 2, 65 })[Idx.Slice(null, null, -1)];
        Assert.Equal(new long[] { Enumerable.Range(66, 65).Sum(), Enumerable.Range(1, 65).Sum() }, Mx.Sum(x, -1).ToArray<long>());
        Assert.Equal(new[] { 130, 65 }, Mx.Max(x, -1).ToArray<int>());
        Assert.Equal(new[] { 66, 1 }, Mx.Min(x, -1).ToArray<int>());
        H.Close(new[] { 98.0, 33 }, Mx.Mean(x, -1));
        H.Close(new[] { (65.0 * 65 - 1) / 12, (65.0 * 65 - 1) / 12 }, Mx.Var(x, -1), 1e-5);
        var c = Mx.Reshape(Mx.Arange(1, 2 * 64 * 16 + 1), new[] { 2, 64, 16 })[Idx.Slice(null, null, -1)];
        var cs = Mx.Sum(c, 1).ToArray<int>();
        // c[0] is the second block: values 1025..2048; column j sums 1025 + j + 16 k over k < 64.
        Assert.Equal(64 * (1025 + 0) + 16 * (63 * 64 / 2), cs[0]);
        Assert.Equal(64 * (1 + 15) + 16 * (63 * 64 / 2), cs[16 + 15]);
        Assert.True(Mx.All(Mx.Equal(Mx.Prod(Mx.Ones(new[] { 2, 64, 16 })[Idx.Slice(null, null, -1)], 1), 1)).Item<bool>());
        Assert.True(Mx.All(Mx.All(Mx.Ones(new[] { 2, 64, 16 }, DType.Bool)[Idx.Slice(null, null, -1)], 1)).Item<bool>());
    }

    [Fact]
    public void EmptySumAndProdInEveryType()
    {
        foreach (var t in new[] { DType.Bool, DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64, DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.Float16, DType.Float32, DType.BFloat16, DType.Float64 })
        {
            var a = Mx.Zeros(new[] { 0 }, t);
            Assert.Equal(0.0, Mx.Sum(a).AsType(DType.Float64).Item<double>());
            Assert.Equal(1.0, Mx.Prod(a).AsType(DType.Float64).Item<double>());
            H.Shape(new[] { 0 }, Mx.Sum(Mx.Zeros(new[] { 0, 3 }, t), -1));
            H.Shape(new[] { 0 }, Mx.Max(Mx.Zeros(new[] { 0, 2 }, t), -1));
            H.Shape(new[] { 3, 2 }, Mx.Sum(Mx.Zeros(new[] { 3, 0, 2 }, t), 1));
        }
        H.Shape(new[] { 0 }, Mx.Min(Mx.Zeros(new[] { 0, 3, 2 }), new[] { 1, 2 }));
        Assert.Throws<ArgumentException>(() => Mx.Max(Mx.Zeros(new[] { 0, 0 }), -1));
    }

    [Fact]
    public void AnyAllTreatNegativeZeroAsFalse()
    {
        foreach (var t in new[] { DType.Float32, DType.Float16, DType.Float64, DType.BFloat16, DType.Complex64 })
        {
            foreach (var values in new[] { new[] { 0.0, -0.0 }, new[] { -0.0, -0.0 }, Enumerable.Repeat(-0.0, 70).ToArray(), new[] { -0.0, 0.0, 1.0 }, new[] { 0.5, 0.0 } })
            {
                var a = Mx.Array(values).AsType(t);
                Assert.Equal(values.Any(v => v != 0), Mx.Any(a).Item<bool>());
                Assert.Equal(values.All(v => v != 0), Mx.All(a).Item<bool>());
            }
        }
        var x = Mx.Array(new[] { 0f, -0f, 1f, 0f, -0f, -0f }, new[] { 3, 2 });
        Assert.Equal(new[] { false, true, false }, Mx.Any(x, 1).ToArray<bool>());
        Assert.Equal(new[] { false, false, false }, Mx.All(x, 1).ToArray<bool>());
    }
}

internal static class ReshapeExtensions
{
    public static MxArray Reshape1(this MxArray a) => Mx.Reshape(a, new[] { 1 });
}

/// <summary>Reductions of many short rows into one, and of adjacent axes together, against double loops.</summary>
public class RowSplitReductionTests
{
    [Theory]
    [InlineData(9000, 16)]   // float32 sums in Vector512 registers, two threads' shares
    [InlineData(3000, 48)]
    [InlineData(20000, 7)]   // a row not a multiple of 16: span accumulation per share
    [InlineData(600, 256)]
    public void ManyShortRowsIntoOneMatchTheScalarRule(int rows, int cols)
    {
        // Sum / max / min over every axis but the last, as a bias gradient or a per-channel statistic: the rows are
        // split between threads and combined in thread order.
        var v = H.Rand(rows * cols, rows + cols, -2, 2);
        int[] shape = rows % 3 == 0 ? new[] { 3, rows / 3, cols } : new[] { 1, rows, cols };
        var x64 = Mx.Array(v, shape);
        var x32 = Mx.AsType(x64, DType.Float32);
        var xi = Mx.AsType(Mx.Multiply(x64, 100.0), DType.Int32);
        var sum = new double[cols];
        var max = Enumerable.Repeat(double.NegativeInfinity, cols).ToArray();
        var min = Enumerable.Repeat(double.PositiveInfinity, cols).ToArray();
        var isum = new long[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                double e = v[r * cols + c];
                sum[c] += e;
                max[c] = Math.Max(max[c], e);
                min[c] = Math.Min(min[c], e);
                isum[c] += (int)(e * 100);
            }
        int[] axes = { 0, 1 };
        H.Close(sum, Mx.Sum(x64, axes), 1e-12, 1e-9, "float64 sum");
        H.Close(sum, Mx.Sum(x32, axes), 1e-4, 1e-3, "float32 sum");
        H.Close(max, Mx.Max(x32, axes), 1e-6, 1e-6, "float32 max");
        H.Close(min, Mx.Min(x64, axes), 0, 0, "float64 min");
        Assert.Equal(isum.Select(s => (int)s).ToArray(), Mx.Sum(xi, axes).ToArray<int>());
    }

    [Fact]
    public void AdjacentAndSeparateReducedAxesTogether()
    {
        // Axes {0, 1, 3} of (5, 6, 7, 8, 3): the first two run as one reduction, the fourth as another.
        int[] shape = { 5, 6, 7, 8, 3 };
        int n = shape.Aggregate(1, (a, b) => a * b);
        var v = H.Rand(n, 77, -2, 2);
        var x = Mx.Array(v, shape);
        var want = new double[7 * 3];
        var wantMax = Enumerable.Repeat(double.NegativeInfinity, 7 * 3).ToArray();
        for (int i = 0; i < n; i++)
        {
            int c = i % 3, l = i / 3 % 8, k = i / 24 % 7;
            want[k * 3 + c] += v[i];
            wantMax[k * 3 + c] = Math.Max(wantMax[k * 3 + c], v[i]);
            _ = l;
        }
        H.Close(want, Mx.Sum(x, new[] { 0, 1, 3 }), 1e-12, 1e-12, "sum");
        H.Close(wantMax, Mx.Max(x, new[] { 3, 0, 1 }), 0, 0, "max");
        Assert.Equal(new[] { 1, 1, 7, 1, 3 }, Mx.Sum(x, new[] { 0, 1, 3 }, keepDims: true).Shape);
    }
}
