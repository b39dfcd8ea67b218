using static Mlx.Backends.Tests.IntegerTypes;

namespace Mlx.Backends.Tests;

/// <summary>
/// Data movement, sorting and random numbers on one backend: take, scatter (every mode), take/put along an axis,
/// concatenate, slice update, copying reshapes and as_strided, sort/argsort, random bits. Expectations come from
/// plain loops over exact integer data (so every dtype compares exactly); the GPU binding also checks GPU == CPU bit
/// for bit on integers and random bits.
/// </summary>
public abstract class IndexingSuite
{
    protected abstract Device Device { get; }

    public static readonly DType[] MoveTypes =
    {
        DType.Float32, DType.Float64, DType.Float16, DType.BFloat16, DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.UInt8, DType.UInt64, DType.Bool,
    };

    private static long[] Values(int n, int seed, long lo = -50, long hi = 50)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (long)r.Next((int)lo, (int)hi)).ToArray();
    }

    // Values representable in every dtype of the test (bools: 0 or 1; unsigned: non-negative).
    private static long Fit(long v, DType t) => t switch
    {
        DType.Bool => v & 1,
        DType.UInt8 or DType.UInt16 or DType.UInt32 or DType.UInt64 => Math.Abs(v),
        _ => v,
    };

    private static MxArray Make(long[] v, int[] shape, DType t) => Mx.Array(v.Select(x => Fit(x, t)).ToArray(), shape, DType.Int64).AsType(t);

    private static long[] Read(MxArray a) => a.AsType(DType.Int64).ToArray<long>();

    private static long[] Expect(long[] v, DType t) => v.Select(x => Fit(x, t)).ToArray();

    [Fact]
    public void Take_EveryDtype_NegativeAndDuplicateIndices()
    {
        int A = 3, K = 7, B = 5;
        var data = Values(A * K * B, 1);
        long[] idx = { 6, -1, 0, 3, 3, -7 };
        foreach (var t in MoveTypes)
        {
            var a = Make(data, new[] { A, K, B }, t);
            var got = Mx.Take(a, Mx.Array(idx, new[] { 2, 3 }, DType.Int64), 1, Device);
            Assert.Equal(new[] { A, 2, 3, B }, got.Shape);
            var want = new long[A * idx.Length * B];
            for (int i = 0; i < A; i++)
                for (int j = 0; j < idx.Length; j++)
                    for (int b = 0; b < B; b++)
                        want[(i * idx.Length + j) * B + b] = Fit(data[(i * K + (idx[j] + K) % K) * B + b], t);
            Assert.Equal(want, Read(got));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(1023)]
    public void Take_OddSizes_TransposedSource_IntIndexTypes(int n)
    {
        var data = Values(n * 3, n + 2);
        // (n, 3) through a transposed view of a (3, n) array.
        var t = new long[3 * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < 3; j++)
                t[j * n + i] = data[i * 3 + j];
        var a = Mx.Transpose(Mx.Array(t, new[] { 3, n }, DType.Int64).AsType(DType.Int32));
        var r = new Random(n);
        var idx = Enumerable.Range(0, n == 0 ? 0 : 2 * n + 1).Select(_ => (long)r.Next(-n, n)).ToArray();
        foreach (var it in new[] { DType.Int32, DType.UInt8, DType.Int64 })
        {
            var ix = idx.Select(v => it == DType.UInt8 ? (v + n) % n : v).ToArray();
            if (it == DType.UInt8 && n > 255) continue;
            var got = Read(Mx.Take(a, Mx.Array(ix, new[] { ix.Length }, DType.Int64).AsType(it), 0, Device));
            var want = new long[ix.Length * 3];
            for (int j = 0; j < ix.Length; j++)
                for (int c = 0; c < 3; c++)
                    want[j * 3 + c] = data[((ix[j] + n) % n) * 3 + c];
            Assert.Equal(want, got);
        }
    }

    [Fact]
    public void Take_OutOfRange_Throws()
    {
        var a = Mx.Array(new[] { 1f, 2f, 3f });
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Take(a, Mx.Array(new[] { 0, 3 }), 0, Device).ToArray<float>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Take(a, Mx.Array(new[] { -4 }), 0, Device).ToArray<float>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.TakeAlongAxis(a, Mx.Array(new[] { 5 }), 0, Device).ToArray<float>());
    }

    private static long Combine(ScatterMode mode, long d, long u) => mode switch
    {
        ScatterMode.None => u,
        ScatterMode.Add => d + u,
        ScatterMode.Prod => d * u,
        ScatterMode.Max => Math.Max(d, u),
        _ => Math.Min(d, u),
    };

    [Fact]
    public void ScatterAxis_EveryMode_DuplicatesInOrder()
    {
        int A = 2, K = 5, B = 3;
        long[] idx = { 1, -1, 1, 0, 4, 1 };
        var types = new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16, DType.Int8, DType.Int32, DType.Int64, DType.UInt8, DType.UInt64, DType.Bool };
        foreach (var mode in new[] { ScatterMode.None, ScatterMode.Add, ScatterMode.Prod, ScatterMode.Max, ScatterMode.Min })
        {
            foreach (var t in types)
            {
                // Small magnitudes: float products stay exact; int8 sums and products wrap (checked below).
                var a = Values(A * K * B, 3, -4, 5).Select(v => Fit(v, t)).ToArray();
                var u = Values(A * idx.Length * B, 4, -4, 5).Select(v => Fit(v, t)).ToArray();
                if (t is DType.Float16 or DType.BFloat16 && mode == ScatterMode.Prod)
                {
                    u = u.Select(v => Math.Clamp(v, -2, 2)).ToArray();
                }
                var want = (long[])a.Clone();
                for (int i = 0; i < A; i++)
                    for (int j = 0; j < idx.Length; j++)
                        for (int b = 0; b < B; b++)
                        {
                            long d = (i * K + (idx[j] + K) % K) * B + b;
                            want[d] = Wrap(Combine(mode, want[d], u[(i * idx.Length + j) * B + b]), t);
                        }
                var got = Mx.ScatterAxis(Make(a, new[] { A, K, B }, t), Mx.Array(idx, new[] { idx.Length }, DType.Int64), Make(u, new[] { A, idx.Length, B }, t), 1, mode, Device);
                Assert.True(want.SequenceEqual(Read(got)), $"{mode} {t.Name()}");
            }
        }
    }

    [Fact]
    public void ScatterAdd_Int8Wraps_BoolIsOr_BroadcastUpdates()
    {
        var a = Mx.Array(new long[] { 100, 0, -100 }, new[] { 3 }, DType.Int64).AsType(DType.Int8);
        var got = Mx.ScatterAxis(a, Mx.Array(new[] { 0, 0, 2, 2 }), Mx.Array(new long[] { 20, 20, -20, -20 }, new[] { 4 }, DType.Int64).AsType(DType.Int8), 0, ScatterMode.Add, Device);
        Assert.Equal(new long[] { 140 - 256, 0, 256 - 140 }, Read(got));
        var bools = Mx.ScatterAxis(Mx.Array(new[] { false, false, true }), Mx.Array(new[] { 0, 0, 1 }), Mx.Array(new[] { true, true, false }), 0, ScatterMode.Add, Device);
        Assert.Equal(new[] { true, false, true }, bools.ToArray<bool>());
        // A scalar update broadcast over the scattered slices, into a transposed array.
        var m = Mx.Transpose(Mx.Array(new long[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }, DType.Int64));
        var s = Mx.ScatterAxis(m, Mx.Array(new[] { 2 }), Mx.Array(new long[] { 9 }, Array.Empty<int>(), DType.Int64), 0, ScatterMode.None, Device);
        Assert.Equal(new long[] { 1, 4, 2, 5, 9, 9 }, Read(s));
    }

    [Fact]
    public void TakeAndPutAlongAxis_StridedSource_Duplicates()
    {
        int R = 4, C = 6;
        var data = Values(R * C, 5);
        foreach (var t in new[] { DType.Float32, DType.Int64, DType.Float16, DType.UInt8, DType.Bool })
        {
            // (R, C) through a transposed (C, R) array.
            var tr = new long[R * C];
            for (int i = 0; i < R; i++)
                for (int j = 0; j < C; j++)
                    tr[j * R + i] = data[i * C + j];
            var a = Mx.Transpose(Make(tr, new[] { C, R }, t));
            var want0 = Expect(data, t);
            long[] idx = { 5, -1, 0, 2, 2, 3, 1, 0 };
            var ix = Mx.Array(idx, new[] { R, 2 }, DType.Int64);
            var got = Read(Mx.TakeAlongAxis(a, ix, 1, Device));
            var want = new long[R * 2];
            for (int i = 0; i < R; i++)
                for (int j = 0; j < 2; j++)
                    want[i * 2 + j] = want0[i * C + (idx[i * 2 + j] + C) % C];
            Assert.Equal(want, got);
            // Put along axis 0: column j receives values at rows idx; a duplicate row keeps the last write.
            long[] pidx = { 1, 3, 1, 1, 0, 2, 2, 0, 3, 3, 3, 1 };
            var vals = Values(2 * C, 6).Select(v => Fit(v, t)).ToArray();
            var put = Read(Mx.PutAlongAxis(a, Mx.Array(pidx, new[] { 2, C }, DType.Int64), Make(vals, new[] { 2, C }, t), 0, Device));
            var wantPut = (long[])want0.Clone();
            for (int r = 0; r < 2; r++)
                for (int j = 0; j < C; j++)
                    wantPut[pidx[r * C + j] * C + j] = vals[r * C + j];
            Assert.Equal(wantPut, put);
        }
    }

    [Fact]
    public void Concatenate_MixedLayouts_EmptyParts()
    {
        foreach (var t in new[] { DType.Float32, DType.Int16, DType.Float64, DType.BFloat16, DType.Bool })
        {
            var x = Values(3 * 4, 7);
            var y = Values(3 * 2, 8);
            var a = Make(x, new[] { 3, 4 }, t);
            var tr = new long[6];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 2; j++)
                    tr[j * 3 + i] = y[i * 2 + j];
            var b = Mx.Transpose(Make(tr, new[] { 2, 3 }, t));
            var e = Mx.Zeros(new[] { 3, 0 }, t);
            var rev = Mx.Slice(a, new[] { 2, 3 }, new[] { -100, -100 }, new[] { -1, -1 });
            var got = Read(Mx.Concatenate(new[] { a, e, b, rev }, 1, Device));
            var want = new List<long>();
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 4; j++) want.Add(Fit(x[i * 4 + j], t));
                for (int j = 0; j < 2; j++) want.Add(Fit(y[i * 2 + j], t));
                for (int j = 0; j < 4; j++) want.Add(Fit(x[(2 - i) * 4 + (3 - j)], t));
            }
            Assert.Equal(want.ToArray(), got);
            Assert.Equal(Read(Mx.Concatenate(new[] { a, a }, 0)), Read(Mx.Concatenate(new[] { a, a }, 0, Device)));
        }
    }

    [Fact]
    public void SliceUpdate_StepsAndBroadcastUpdate()
    {
        foreach (var t in new[] { DType.Float32, DType.Int64, DType.Float16, DType.UInt8 })
        {
            var x = Values(5 * 7, 9);
            var a = Make(x, new[] { 5, 7 }, t);
            // Rows 4, 2, 0 (step -2) and columns 1, 4 (step 3).
            var upd = Values(3 * 2, 10).Select(v => Fit(v, t)).ToArray();
            var got = Read(Mx.SliceUpdate(a, Make(upd, new[] { 3, 2 }, t), new[] { 4, 1 }, new[] { -6, 7 }, new[] { -2, 3 }, Device));
            var want = Expect(x, t);
            int[] rows = { 4, 2, 0 }, cols = { 1, 4 };
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 2; j++)
                    want[rows[i] * 7 + cols[j]] = upd[i * 2 + j];
            Assert.Equal(want, got);
            // A broadcast row into a transposed array.
            var row = Make(new long[] { 3, 1 }, new[] { 2 }, t);
            var tr = Mx.Transpose(a);
            var got2 = Read(Mx.SliceUpdate(tr, row, new[] { 0, 1 }, new[] { 7, 3 }, null, Device));
            var want2 = new long[35];
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 5; j++)
                    want2[i * 5 + j] = j is 1 or 2 ? Fit(j == 1 ? 3 : 1, t) : Fit(x[j * 7 + i], t);
            Assert.Equal(want2, got2);
        }
    }

    [Fact]
    public void Reshape_CopiesNonContiguous_ViewsContiguous_AsStrided()
    {
        var x = Values(4 * 6, 11);
        var a = Mx.Array(x, new[] { 4, 6 }, DType.Int64);
        var tr = Mx.Transpose(a);
        var got = Read(Mx.Reshape(tr, new[] { 24 }, Device));
        var want = new long[24];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 4; j++)
                want[i * 4 + j] = x[j * 6 + i];
        Assert.Equal(want, got);
        Assert.Equal(x, Read(Mx.Reshape(a, new[] { 2, 12 }, Device)));
        // as_strided views the row-major copy of its (transposed) input: windows of 3 with step 2.
        var win = Read(Mx.AsStrided(tr, new[] { 5, 3 }, new long[] { 2, 1 }, 1, Device));
        for (int w = 0; w < 5; w++)
            for (int k = 0; k < 3; k++)
                Assert.Equal(want[1 + w * 2 + k], win[w * 3 + k]);
        var h = Mx.Transpose(Mx.Array(x.Select(v => (double)v).ToArray(), new[] { 4, 6 }, DType.Float16));
        Assert.Equal(want.Select(v => (double)v).ToArray(), Mx.Reshape(h, new[] { 24 }, Device).AsType(DType.Float64).ToArray<double>());
    }

    // A stable sort with NaN last, as an independent reference.
    private static int[] StableOrder(double[] row) =>
        Enumerable.Range(0, row.Length).OrderBy(i => double.IsNaN(row[i]) ? 1 : 0).ThenBy(i => double.IsNaN(row[i]) ? 0 : row[i]).ToArray();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(1023)]
    public void SortAndArgSort_Rows_StableNaNLast(int n)
    {
        var r = new Random(n + 3);
        int rows = 3;
        // Few distinct values: many ties; NaN and signed zeros among them.
        var v = Enumerable.Range(0, rows * n).Select(_ => r.Next(8) switch { 0 => double.NaN, 1 => -0.0, 2 => 0.0, int k => k - 5.0 }).ToArray();
        foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
        {
            var a = Mx.Array(v, new[] { rows, n }, t);
            var idx = Mx.ArgSort(a, 1, Device).ToArray<uint>();
            var sorted = Mx.Sort(a, 1, Device).AsType(DType.Float64).ToArray<double>();
            for (int i = 0; i < rows; i++)
            {
                var row = v.Skip(i * n).Take(n).ToArray();
                var order = StableOrder(row);
                for (int j = 0; j < n; j++)
                {
                    Assert.Equal((uint)order[j], idx[i * n + j]);
                    Assert.Equal(row[order[j]], sorted[i * n + j]);
                }
            }
        }
    }

    [Fact]
    public void Sort_IntegerTypes_AlongEachAxis_Transposed()
    {
        int R = 9, C = 13;
        foreach (var t in new[] { DType.Int8, DType.Int16, DType.Int32, DType.Int64, DType.UInt8, DType.UInt16, DType.UInt32, DType.UInt64, DType.Bool })
        {
            var x = Values(R * C, 12, -30, 30).Select(v => Fit(v, t)).ToArray();
            var a = Make(x, new[] { R, C }, t);
            foreach (var (arr, axis, name) in new[] { (a, 0, "axis 0"), (a, 1, "axis 1"), (Mx.Transpose(a), 1, "transposed") })
            {
                var shape = arr.Shape;
                var got = Read(Mx.Sort(arr, axis, Device));
                var gotIdx = Mx.ArgSort(arr, axis, Device).ToArray<uint>();
                var flat = Read(arr);
                int n = shape[axis], other = shape[1 - axis];
                for (int o = 0; o < other; o++)
                {
                    Func<int, int> at = axis == 1 ? j => o * n + j : j => j * other + o;
                    var row = Enumerable.Range(0, n).Select(j => flat[at(j)]).ToArray();
                    var order = Enumerable.Range(0, n).OrderBy(j => row[j]).ToArray();
                    for (int j = 0; j < n; j++)
                    {
                        Assert.True(row[order[j]] == got[at(j)], $"{t.Name()} {name}");
                        Assert.True((uint)order[j] == gotIdx[at(j)], $"{t.Name()} {name} index");
                    }
                }
            }
        }
        // uint64 above 2^63 sorts after smaller values.
        var big = Mx.Array(new ulong[] { ulong.MaxValue, 1, 1UL << 63, 0 });
        Assert.Equal(new ulong[] { 0, 1, 1UL << 63, ulong.MaxValue }, Mx.Sort(big, 0, Device).ToArray<ulong>());
    }

    [Fact]
    public void RandomBits_EveryWidth_OddSizes()
    {
        foreach (var (seed, shape) in new[] { (0UL, new[] { 1 }), (7UL, new[] { 7 }), (42UL, new[] { 3, 11 }), (123456789UL, new[] { 1023 }), (5UL, new[] { 0 }) })
        {
            var key = Mx.Random.Key(seed);
            foreach (int width in new[] { 1, 2, 4 })
            {
                var got = Mx.Random.Bits(shape, width, key, Device);
                long n = shape.Aggregate(1L, (p, q) => p * q);
                var want = new byte[n * width];
                var (k0, k1) = Mlx.Kernels.Random.Threefry.Key(seed);
                Mlx.Kernels.Random.Threefry.FillBits(k0, k1, want, width);
                var bytes = width switch
                {
                    1 => got.ToArray<byte>(),
                    2 => got.ToArray<ushort>().SelectMany(BitConverter.GetBytes).ToArray(),
                    _ => got.ToArray<uint>().SelectMany(BitConverter.GetBytes).ToArray(),
                };
                Assert.Equal(want, bytes);
            }
        }
    }

    [Fact]
    public void RandomUniformAndNormal_MatchTheCpuTransforms()
    {
        var key = Mx.Random.Key(99);
        var (k0, k1) = Mlx.Kernels.Random.Threefry.Key(99);
        var u = Mx.Random.Uniform(new[] { 257 }, DType.Float32, key, Device).ToArray<float>();
        var wantU = new float[257];
        Mlx.Kernels.Random.Threefry.Uniform(k0, k1, wantU);
        Assert.Equal(wantU, u);
        var z = Mx.Random.Normal(new[] { 5, 31 }, DType.Float32, 1.5, 2.0, key, Device).ToArray<float>();
        var wantZ = new float[155];
        Mlx.Kernels.Random.Threefry.Normal(k0, k1, wantZ, 1.5f, 2.0f);
        H.Close(wantZ, Mx.Array(z), 1e-5, 1e-5);
    }
}

/// <summary>The GPU side also agrees with the CPU backend bit for bit on integer data.</summary>
public sealed class GpuIndexing : IndexingSuite
{
    protected override Device Device => Backends.Gpu;

    [Fact]
    public void GpuEqualsCpu_Integers()
    {
        var r = new Random(17);
        var x = Mx.Array(Enumerable.Range(0, 6 * 9 * 4).Select(_ => r.Next(-1000, 1000)).ToArray(), new[] { 6, 9, 4 });
        var t = Mx.Transpose(x, new[] { 2, 0, 1 });
        var idx = Mx.Array(new[] { 3, -2, 0, 3, 8 });
        var ops = new Func<Device, MxArray>[]
        {
            d => Mx.Take(t, idx, 2, d),
            d => Mx.ScatterAxis(t, idx, Mx.Ones(new[] { 4, 6, 5 }, DType.Int32), 2, ScatterMode.Add, d),
            d => Mx.ScatterAxis(x, idx, Mx.Full(new[] { 6, 5, 4 }, 3, DType.Int32), 1, ScatterMode.Prod, d),
            d => Mx.Sort(t, 1, d),
            d => Mx.ArgSort(t, 0, d),
            d => Mx.Partition(x, 2, 1, d),
            d => Mx.TopK(t, 3, -1, d),
            d => Mx.Concatenate(new[] { t, t }, 2, d),
            d => Mx.Random.Bits(new[] { 3, 5, 7 }, 1, Mx.Random.Key(3), d),
            d => Mx.Random.Split(Mx.Random.Key(11), 5, d),
        };
        foreach (var op in ops)
        {
            var cpu = op(Device.Cpu);
            var gpu = op(Device);
            Assert.Equal(cpu.Shape, gpu.Shape);
            Assert.Equal(cpu.AsType(DType.Int64).ToArray<long>(), gpu.AsType(DType.Int64).ToArray<long>());
        }
    }
}

public sealed class CpuIndexing : IndexingSuite
{
    protected override Device Device => Device.Cpu;
}
