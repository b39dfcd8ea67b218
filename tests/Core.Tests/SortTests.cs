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
