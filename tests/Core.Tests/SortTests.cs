namespace Mlx.Core.Tests;

/// <summary>Sort, ArgSort, Partition, ArgPartition, TopK, SearchSorted.</summary>
public class SortTests
{
    [Theory]
    [MemberData(nameof(H.OddSizeData), MemberType = typeof(H))]
    public void SortMatchesOrderBy(int n)
    {
        var v = H.Rand(n, 41);
        var expected = v.OrderBy(x => x).ToArray();
        H.Close(expected, Mx.Sort(Mx.Array(v)), 0, 0);
        H.Close(expected, Mx.Sort(H.ReversedView(v)), 0, 0);
        var idx = Mx.ArgSort(Mx.Array(v)).ToArray<uint>();
        Assert.Equal(expected, idx.Select(i => v[i]).ToArray());
        var ints = v.Select(x => (int)(x * 5)).ToArray();
        Assert.Equal(ints.OrderBy(x => x).ToArray(), Mx.Sort(Mx.Array(ints)).ToArray<int>());
    }

    [Fact]
    public void NaNSortsLast()
    {
        foreach (var t in new[] { DType.Float32, DType.Float64, DType.Float16, DType.BFloat16 })
        {
            var a = Mx.Array(new[] { 3.0, double.NaN, -1, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 0 }, t);
            var s = Mx.Sort(a).AsType(DType.Float64).ToArray<double>();
            Assert.Equal(new[] { double.NegativeInfinity, -1, 0, 3, double.PositiveInfinity }, s.Take(5).ToArray());
            Assert.True(double.IsNaN(s[5]) && double.IsNaN(s[6]), t.ToString());
            Assert.Equal(t, Mx.Sort(a).DType);
            Assert.Equal(new uint[] { 4, 2, 6, 0, 3, 1, 5 }, Mx.ArgSort(a).ToArray<uint>());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1000)]
    public void SortedValuesEqualTheStableOrderBitForBit(int n)
    {
        // Ties, -0 and +0 interleaved, NaNs with different payloads, infinities, in 3 rows: the values-only sort must
        // give the stable order's exact bits (zeros in input order, NaNs last in input order).
        var rng = new System.Random(n);
        var bits = new float[3 * n];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (i % 7) switch
            {
                0 => -0.0f,
                1 => 0.0f,
                2 => BitConverter.UInt32BitsToSingle(0x7FC0_0000u + (uint)i),
                3 => (float)Math.Round(rng.NextDouble() * 10 - 5),
                4 => i % 2 == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                _ => (float)(rng.NextDouble() * 100 - 50),
            };
        }
        var sorted = Mx.Sort(Mx.Array(bits, new[] { 3, n }), 1).ToArray<float>();
        for (int r = 0; r < 3; r++)
        {
            var row = bits.Skip(r * n).Take(n).Select((v, i) => (v, i)).ToArray();
            var want = row.OrderBy(p => float.IsNaN(p.v) ? 1 : 0).ThenBy(p => float.IsNaN(p.v) ? 0 : p.v).ThenBy(p => p.i).Select(p => BitConverter.SingleToUInt32Bits(p.v)).ToArray();
            var got = sorted.Skip(r * n).Take(n).Select(BitConverter.SingleToUInt32Bits).ToArray();
            Assert.Equal(want, got);
        }
        var d = bits.Select(v => (double)v).ToArray();
        var dSorted = Mx.Sort(Mx.Array(d, new[] { 3, n }), 1).ToArray<double>();
        var viaArgSort = Mx.TakeAlongAxis(Mx.Array(d, new[] { 3, n }), Mx.ArgSort(Mx.Array(d, new[] { 3, n }), 1), 1).ToArray<double>();
        Assert.Equal(viaArgSort.Select(BitConverter.DoubleToUInt64Bits), dSorted.Select(BitConverter.DoubleToUInt64Bits));
    }

    [Fact]
    public void ArgSortIsStable()
    {
        var a = Mx.Array(new[] { 2, 1, 2, 1, 2, 0 });
        Assert.Equal(new uint[] { 5, 1, 3, 0, 2, 4 }, Mx.ArgSort(a).ToArray<uint>());
        Assert.Equal(DType.UInt32, Mx.ArgSort(a).DType);
    }

    [Fact]
    public void SortAlongAxes()
    {
        var m = Mx.Array(new[] { 3, 1, 2, 9, 7, 8, 0, 5, 4 }, new[] { 3, 3 });
        Assert.Equal(new[] { 1, 2, 3, 7, 8, 9, 0, 4, 5 }, Mx.Sort(m).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2, 3, 5, 4, 9, 7, 8 }, Mx.Sort(m, 0).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 7, 8, 9 }, Mx.Sort(m, null).ToArray<int>());
        Assert.Equal(new uint[] { 2, 0, 0, 0, 2, 2, 1, 1, 1 }, Mx.ArgSort(m, 0).ToArray<uint>());
        Assert.Equal(new[] { 0, 1, 2, 3, 5, 4, 9, 7, 8 }, Mx.Transpose(Mx.Sort(Mx.Transpose(m), 1)).ToArray<int>());
        Assert.Equal(new[] { false, true, true }, Mx.Sort(Mx.Array(new[] { true, false, true })).ToArray<bool>());
        Assert.Equal(new ulong[] { 1, ulong.MaxValue }, Mx.Sort(Mx.Array(new[] { ulong.MaxValue, 1UL })).ToArray<ulong>());
        Assert.Equal(new sbyte[] { -128, 0, 127 }, Mx.Sort(Mx.Array(new sbyte[] { 127, -128, 0 })).ToArray<sbyte>());
    }

    [Fact]
    public void EmptySort()
    {
        Assert.Empty(Mx.Sort(Mx.Zeros(new[] { 0 })).ToArray<float>());
        H.Shape(new[] { 3, 0 }, Mx.ArgSort(Mx.Zeros(new[] { 3, 0 })));
        Assert.Empty(Mx.ArgSort(Mx.Zeros(new[] { 3, 0 })).ToArray<uint>());
    }

    [Fact]
    public void PartitionProperty()
    {
        var v = H.Rand(33, 42);
        var a = Mx.Array(v);
        foreach (int k in new[] { 0, 5, 16, 32, -1 })
        {
            int kk = k < 0 ? k + 33 : k;
            var p = Mx.Partition(a, k).ToArray<double>();
            var kth = v.OrderBy(x => x).ElementAt(kk);
            Assert.Equal(kth, p[kk]);
            Assert.True(p.Take(kk).All(x => x <= kth));
            Assert.True(p.Skip(kk + 1).All(x => x >= kth));
            var ip = Mx.ArgPartition(a, k).ToArray<uint>();
            Assert.Equal(kth, v[ip[kk]]);
            Assert.Equal(Enumerable.Range(0, 33).Select(i => (uint)i), ip.OrderBy(i => i));
        }
        Assert.Throws<ArgumentException>(() => Mx.Partition(a, 33));
    }

    [Fact]
    public void TopKGivesTheLargest()
    {
        var v = H.Rand(17, 43);
        var a = Mx.Array(v);
        foreach (int k in new[] { 0, 1, 3, 17 })
        {
            var top = Mx.TopK(a, k).ToArray<double>().OrderBy(x => x).ToArray();
            Assert.Equal(v.OrderByDescending(x => x).Take(k).OrderBy(x => x).ToArray(), top);
        }
        var m = Mx.Array(new[] { 1, 9, 3, 7, 2, 8 }, new[] { 2, 3 });
        H.Shape(new[] { 2, 2 }, Mx.TopK(m, 2));
        Assert.Equal(new[] { 3, 9, 7, 8 }, Mx.TopK(m, 2).ToArray<int>().Chunk(2).SelectMany(c => c.OrderBy(x => x)).ToArray());
        Assert.Equal(new[] { 7, 9, 8 }, Mx.TopK(m, 1, 0).ToArray<int>());
        H.Shape(new[] { 1, 3 }, Mx.TopK(m, 1, 0));
        Assert.Throws<ArgumentException>(() => Mx.TopK(a, 18));
    }

    [Fact]
    public void SearchSortedLeftRight()
    {
        var s = Mx.Array(new[] { 1, 2, 2, 3, 5 });
        var q = Mx.Array(new[] { 0, 2, 4, 6, 3 });
        Assert.Equal(new uint[] { 0, 1, 4, 5, 3 }, Mx.SearchSorted(s, q).ToArray<uint>());
        Assert.Equal(new uint[] { 0, 3, 4, 5, 4 }, Mx.SearchSorted(s, q, right: true).ToArray<uint>());
        Assert.Equal(new uint[] { 0, 0 }, Mx.SearchSorted(Mx.Zeros(new[] { 0 }, DType.Int32), Mx.Array(new[] { 1, 2 })).ToArray<uint>());
        H.Shape(new[] { 2, 2 }, Mx.SearchSorted(s, Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 })));
    }
}

/// <summary>Partition, ArgPartition, TopK and ArgSort against a stable sort done by LINQ, over dtypes and hard inputs.</summary>
public class SelectionTests
{
    // The stable ascending order MLX sorts in: NaN after everything, -0 equal to +0, ties by position.
    private static int[] StableOrder(double[] v) =>
        Enumerable.Range(0, v.Length).OrderBy(i => double.IsNaN(v[i]) ? 1 : 0).ThenBy(i => double.IsNaN(v[i]) ? 0 : v[i]).ThenBy(i => i).ToArray();

    private static int Rank(double a) => double.IsNaN(a) ? 1 : 0;

    private static int Compare(double a, double b) => Rank(a) != Rank(b) ? Rank(a).CompareTo(Rank(b)) : Rank(a) == 1 ? 0 : a.CompareTo(b) == 0 || a == b ? 0 : a.CompareTo(b);

    private static double[] Values(string kind, int n, int seed)
    {
        var r = new System.Random(seed);
        return kind switch
        {
            "random" => Enumerable.Range(0, n).Select(_ => Math.Round(r.NextDouble() * 40 - 20, 1)).ToArray(),
            "ties" => Enumerable.Range(0, n).Select(_ => (double)r.Next(4)).ToArray(),
            "special" => Enumerable.Range(0, n).Select(i => (i % 6) switch { 0 => double.NaN, 1 => -0.0, 2 => 0.0, 3 => double.PositiveInfinity, 4 => double.NegativeInfinity, _ => r.Next(-3, 3) }).ToArray(),
            "sorted" => Enumerable.Range(0, n).Select(i => (double)i).ToArray(),
            "reversed" => Enumerable.Range(0, n).Select(i => (double)(n - i)).ToArray(),
            "equal" => Enumerable.Repeat(7.0, n).ToArray(),
            _ => Enumerable.Range(0, n).Select(i => (double)Math.Min(i, n - i)).ToArray(), // organ pipe
        };
    }

    public static TheoryData<string, int, DType> Cases()
    {
        var data = new TheoryData<string, int, DType>();
        foreach (var kind in new[] { "random", "ties", "special", "sorted", "reversed", "equal", "pipe" })
            foreach (int n in new[] { 1, 9, 17, 300, 5000 })
                foreach (var dt in new[] { DType.Float32, DType.Float64, DType.Int32, DType.Int64, DType.Float16, DType.UInt8 })
                    if (kind != "special" || dt.IsFloating())
                        if (n < 300 || dt is DType.Float32 or DType.Int64)
                            data.Add(kind, n, dt);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PartitionTopKAndArgSortAgreeWithAStableSort(string kind, int n, DType dt)
    {
        var raw = Values(kind, n, n);
        if (dt == DType.UInt8) raw = raw.Select(v => (double)Math.Abs(v % 200)).ToArray();
        var a = Mx.AsType(Mx.Array(raw), dt);
        var v = Mx.AsType(a, DType.Float64).ToArray<double>(); // the values as stored in dt
        var order = StableOrder(v);
        Assert.Equal(order.Select(i => (uint)i), Mx.ArgSort(a).ToArray<uint>());
        foreach (int kth in new[] { 0, n / 3, n / 2, n - 1 }.Distinct())
        {
            var p = Mx.AsType(Mx.Partition(a, kth), DType.Float64).ToArray<double>();
            var ip = Mx.ArgPartition(a, kth).ToArray<uint>();
            Assert.Equal(Enumerable.Range(0, n).Select(i => (uint)i), ip.OrderBy(i => i));
            Assert.Equal(ip.Select(i => v[i]).Select(BitConverter.DoubleToInt64Bits), p.Select(BitConverter.DoubleToInt64Bits));
            Assert.Equal(0, Compare(v[order[kth]], p[kth]));
            for (int i = 0; i < n; i++)
                Assert.True(i < kth ? Compare(p[i], p[kth]) <= 0 : Compare(p[i], p[kth]) >= 0, $"kth {kth}: element {i} = {p[i]} against {p[kth]}");
        }
        foreach (int k in new[] { 0, 1, Math.Min(5, n), n / 2, n }.Distinct())
        {
            var top = Mx.AsType(Mx.TopK(a, k), DType.Float64).ToArray<double>();
            var want = order.Skip(n - k).Select(i => v[i]).ToArray();
            Assert.Equal(k, top.Length);
            for (int i = 0; i < k; i++) Assert.Equal(0, Compare(want[i], top[i]));
        }
    }

    [Fact]
    public void TopKAlongAnAxisOfAView()
    {
        // Rows of a transposed (non-contiguous) view, both kernels (k small against n, and k large).
        var r = new System.Random(3);
        var data = Enumerable.Range(0, 200 * 7).Select(_ => (float)r.NextDouble()).ToArray();
        var m = Mx.Transpose(Mx.Array(data, new[] { 200, 7 })); // (7, 200)
        foreach (int k in new[] { 3, 150 })
        {
            var top = Mx.TopK(m, k, 1);
            Assert.Equal(new[] { 7, k }, top.Shape);
            var got = top.ToArray<float>();
            for (int row = 0; row < 7; row++)
            {
                var want = Enumerable.Range(0, 200).Select(i => data[i * 7 + row]).OrderBy(x => x).Skip(200 - k).ToArray();
                Assert.Equal(want, got.Skip(row * k).Take(k).ToArray());
            }
            var top0 = Mx.TopK(Mx.Transpose(m), k, 0);
            Assert.Equal(new[] { k, 7 }, top0.Shape);
            Assert.Equal(got, Mx.Transpose(top0).ToArray<float>());
        }
        Assert.Equal(new[] { 7, 0 }, Mx.TopK(m, 0, 1).Shape);
        Assert.Empty(Mx.TopK(Mx.Zeros(new[] { 0, 4 }), 2, 1).ToArray<float>());
    }

    [Fact]
    public void TopKAndPartitionGradientsGoToTheChosenElements()
    {
        var x = Mx.Array(new[] { 0.5, -1.0, 3.0, 2.0, -4.0, 1.5, 0.25 });
        var w = Mx.Array(new[] { 1.0, 2.0, 3.0 });
        // d/dx sum(topk(x, 3) * w): the ascending top 3 are 1.5, 2, 3 at positions 5, 3, 2.
        var g = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.TopK(a, 3), w)))(x).ToArray<double>();
        Assert.Equal(new[] { 0, 0, 3.0, 2.0, 0, 1.0, 0 }, g);
        // Partition at 3: position 3 holds the 4th smallest (0.5, at input position 0).
        var gp = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Partition(a, 3), Mx.Array(new[] { 0.0, 0, 0, 1, 0, 0, 0 }))))(x).ToArray<double>();
        Assert.Equal(new[] { 1.0, 0, 0, 0, 0, 0, 0 }, gp);
    }
}
