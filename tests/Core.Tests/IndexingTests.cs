namespace Mlx.Core.Tests;

/// <summary>Indexers, Slice/SliceUpdate, Take, TakeAlongAxis, PutAlongAxis, Scatter*, Diagonal/Diag/Trace.</summary>
public class IndexingTests
{
    private static MxArray M34() => Mx.Reshape(Mx.Arange(0, 12), new[] { 3, 4 });

    [Fact]
    public void BasicIndexing()
    {
        var m = M34();
        Assert.Equal(new[] { 4, 5, 6, 7 }, m[1].ToArray<int>());
        Assert.Equal(new[] { 8, 9, 10, 11 }, m[^1].ToArray<int>());
        Assert.Equal(new[] { 8, 9, 10, 11 }, m[-1].ToArray<int>());
        Assert.Equal(new[] { 1, 5, 9 }, m[.., 1].ToArray<int>());
        Assert.Equal(6, m[1, 2].Item<int>());
        H.Shape(Array.Empty<int>(), m[1, 2]);
        Assert.Equal(new[] { 5, 6, 9, 10 }, m[1..3, 1..3].ToArray<int>());
        Assert.Equal(new[] { 4, 5, 6, 7 }, m[1..^1].ToArray<int>());
        Assert.Empty(m[2..1].ToArray<int>());
        H.Shape(new[] { 0, 4 }, m[5..]);
        Assert.Throws<IndexOutOfRangeException>(() => m[3]);
        Assert.Throws<IndexOutOfRangeException>(() => m[-4]);
        Assert.Throws<IndexOutOfRangeException>(() => m[0, 0, 0]);
    }

    [Fact]
    public void SteppedAndNegativeStepSlices()
    {
        var a = Mx.Arange(0, 10);
        Assert.Equal(new[] { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 }, a[Idx.Slice(null, null, -1)].ToArray<int>());
        Assert.Equal(new[] { 5, 3 }, a[Idx.Slice(5, 1, -2)].ToArray<int>());
        Assert.Equal(new[] { 0, 3, 6, 9 }, a[Idx.Slice(null, null, 3)].ToArray<int>());
        Assert.Equal(new[] { 8, 6, 4, 2, 0 }, a[Idx.Slice(-2, null, -2)].ToArray<int>());
        Assert.Equal(new[] { 1, 2 }, a[Idx.Slice(-9, -7)].ToArray<int>());
        Assert.Empty(a[Idx.Slice(1, 5, -1)].ToArray<int>());
        Assert.Equal(new[] { 9 }, a[Idx.Slice(100, 8, -1)].ToArray<int>());
        Assert.Throws<ArgumentException>(() => a[Idx.Slice(null, null, 0)]);
        var m = M34();
        Assert.Equal(new[] { 11, 9, 3, 1 }, m[Idx.Slice(null, null, -2), Idx.Slice(null, null, -2)].ToArray<int>());
        // A slice of a slice of a transpose.
        var t = m.T[Idx.Slice(null, null, -1)][1..3, Idx.Slice(null, null, -1)];
        Assert.Equal(new[] { 10, 6, 2, 9, 5, 1 }, t.ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2, 3 }, Mx.Slice(m, new[] { 0, 0 }, new[] { 1, 4 }).ToArray<int>());
        Assert.Equal(new[] { 11, 9 }, Mx.Slice(m, new[] { 2, 3 }, new[] { 1, -5 }, new[] { -1, -2 }).ToArray<int>());
    }

    [Fact]
    public void NewAxisEllipsisAndArrayIndices()
    {
        var m = M34();
        H.Shape(new[] { 1, 3, 4 }, m[Idx.NewAxis]);
        H.Shape(new[] { 3, 1, 4 }, m[.., Idx.NewAxis]);
        H.Shape(new[] { 3, 4, 1 }, m[Idx.Ellipsis, Idx.NewAxis]);
        Assert.Equal(new[] { 3, 7, 11 }, m[Idx.Ellipsis, -1].ToArray<int>());
        var idx = Mx.Array(new[] { 2, 0, -1 });
        Assert.Equal(new[] { 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11 }, m[idx].ToArray<int>());
        Assert.Equal(new[] { 2, 0, 3, 6, 4, 7, 10, 8, 11 }, m[.., idx].ToArray<int>());
        H.Shape(new[] { 3, 2, 2 }, m[.., Mx.Array(new[] { 0, 1, 2, 3 }, new[] { 2, 2 })]);
        Assert.Throws<ArgumentException>(() => m[Idx.Ellipsis, Idx.Ellipsis]);
    }

    [Fact]
    public void SeveralIndexArraysBroadcastTogetherLikeNumPy()
    {
        var m = M34();
        // a[[0, 2], [1, 3]] picks (0, 1) and (2, 3).
        var r = m[Mx.Array(new[] { 0, 2 }), Mx.Array(new[] { 1, 3 })];
        H.Shape(new[] { 2 }, r);
        Assert.Equal(new[] { 1, 11 }, r.ToArray<int>());
        // Broadcasting index arrays: rows (2, 1) against cols (3,) gives (2, 3).
        var g = m[Mx.Array(new[] { 0, -1 }, new[] { 2, 1 }), Mx.Array(new[] { 0, 1, -1 })];
        H.Shape(new[] { 2, 3 }, g);
        Assert.Equal(new[] { 0, 1, 3, 8, 9, 11 }, g.ToArray<int>());
        var a = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        // Adjacent index arrays keep their place: a[:, [0, 2], [1, 3]] has shape (2, 2).
        var adj = a[.., Mx.Array(new[] { 0, 2 }), Mx.Array(new[] { 1, 3 })];
        H.Shape(new[] { 2, 2 }, adj);
        Assert.Equal(new[] { 1, 11, 13, 23 }, adj.ToArray<int>());
        // Separated by a slice, the broadcast dims go first: a[[0, 1], :, [3, 0]] has shape (2, 3).
        var sep = a[Mx.Array(new[] { 0, 1 }), .., Mx.Array(new[] { 3, 0 })];
        H.Shape(new[] { 2, 3 }, sep);
        Assert.Equal(new[] { 3, 7, 11, 12, 16, 20 }, sep.ToArray<int>());
        // An integer separated from an index array by a slice also sends the gathered dims first (MLX, NumPy).
        var g0 = a[0, .., Mx.Array(new[] { 3, 1 })];
        H.Shape(new[] { 2, 3 }, g0);
        Assert.Equal(new[] { 3, 7, 11, 1, 5, 9 }, g0.ToArray<int>());
        var g1 = a[.., 1, Mx.Array(new[] { 3, 1 })];
        H.Shape(new[] { 2, 2 }, g1);
        Assert.Equal(new[] { 7, 5, 19, 17 }, g1.ToArray<int>());
        var g2 = a[Mx.Array(new[] { 1, 0 }), .., 2];
        H.Shape(new[] { 2, 3 }, g2);
        Assert.Equal(new[] { 14, 18, 22, 2, 6, 10 }, g2.ToArray<int>());
        // With a new axis and a reversed source.
        var rv = m[Idx.Slice(null, null, -1)][Idx.NewAxis, Mx.Array(new[] { 0 }), Mx.Array(new[] { 0 })];
        H.Shape(new[] { 1, 1 }, rv);
        Assert.Equal(new[] { 8 }, rv.ToArray<int>());
        Assert.Throws<IndexOutOfRangeException>(() => m[Mx.Array(new[] { 3 }), Mx.Array(new[] { 0 })]);
        Assert.Throws<IndexOutOfRangeException>(() => m[Mx.Array(new[] { 0 }), Mx.Array(new[] { 4 })]);
        Assert.Throws<IndexOutOfRangeException>(() => m[Mx.Array(new[] { 0UL }), Mx.Array(new[] { ulong.MaxValue })]);
        Assert.Throws<ArgumentException>(() => m[Mx.Array(new[] { 0, 1 }), Mx.Array(new[] { 0, 1, 2 })]);
    }

    [Fact]
    public void BoolMaskIndicesAreRefused() =>
        Assert.Throws<ArgumentException>(() => Mx.Arange(0, 3)[Mx.Array(new[] { true, false, true })]);

    [Fact]
    public void TakeWrapsNegativeIndices()
    {
        var a = Mx.Array(new[] { 10, 20, 30, 40 });
        Assert.Equal(new[] { 40, 10, 30 }, Mx.Take(a, Mx.Array(new[] { -1, 0, -2 }), 0).ToArray<int>());
        Assert.Equal(new[] { 40, 30 }, Mx.Take(a, Mx.Array(new long[] { 3, 2 }), 0).ToArray<int>());
        Assert.Equal(new[] { 20 }, Mx.Take(a, Mx.Array(new byte[] { 1 }), 0).ToArray<int>());
        var m = M34();
        Assert.Equal(new[] { 3, 0, 7, 4, 11, 8 }, Mx.Take(m, Mx.Array(new[] { -1, 0 }), 1).ToArray<int>());
        Assert.Equal(new[] { 11, 0 }, Mx.Take(m, Mx.Array(new[] { -1, 0 })).ToArray<int>());
        H.Shape(new[] { 2, 2, 4 }, Mx.Take(m, Mx.Array(new[] { 0, 1, 2, 1 }, new[] { 2, 2 }), 0));
        H.Shape(new[] { 4 }, Mx.Take(m, Mx.Array(1), 0));
        Assert.Equal(new[] { 4, 5, 6, 7 }, Mx.Take(m, Mx.Array(1), 0).ToArray<int>());
        Assert.Empty(Mx.Take(a, Mx.Zeros(new[] { 0 }, DType.Int32), 0).ToArray<int>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Take(a, Mx.Array(new[] { 4 }), 0).ToArray<int>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Take(a, Mx.Array(new[] { -5 }), 0).ToArray<int>());
        // Unsigned indices never wrap: uint64 max is out of bounds, not "the last element".
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Take(a, Mx.Array(new[] { ulong.MaxValue }), 0).ToArray<int>());
        Assert.Equal(new[] { 40, 10 }, Mx.Take(a, Mx.Array(new ulong[] { 3, 0 }), 0).ToArray<int>());
        Assert.Equal(new[] { 20 }, a[Mx.Array(new uint[] { 1 })].ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.Take(a, Mx.Array(new[] { 1f }), 0));
        // Take from a non-contiguous source, in small float types and bool.
        Assert.Equal(new[] { 30, 40 }, Mx.Take(a[Idx.Slice(null, null, -1)], Mx.Array(new[] { 1, 0 }), 0).ToArray<int>());
        Assert.Equal(new[] { 3.0, 1.0 }, Mx.Take(Mx.Array(new[] { 1.0, 2, 3 }).AsType(DType.BFloat16), Mx.Array(new[] { 2, 0 }), 0).AsType(DType.Float64).ToArray<double>());
        Assert.Equal(new[] { true, false }, Mx.Take(Mx.Array(new[] { false, true }), Mx.Array(new[] { 1, 0 }), 0).ToArray<bool>());
        Assert.Equal(new[] { 3, 1 }, Mx.Take(m.T, Mx.Array(new[] { 3, 1 }), 0)[.., 0].ToArray<int>());
    }

    [Fact]
    public void TakeAlongAxisAndPutAlongAxis()
    {
        var m = Mx.Array(new[] { 10, 30, 20, 60, 40, 50 }, new[] { 2, 3 });
        var idx = Mx.ArgSort(m, 1);
        Assert.Equal(new[] { 10, 20, 30, 40, 50, 60 }, Mx.TakeAlongAxis(m, idx, 1).ToArray<int>());
        var am = Mx.ArgMax(m, 1, keepDims: true);
        Assert.Equal(new[] { 30, 60 }, Mx.TakeAlongAxis(m, am, 1).ToArray<int>());
        Assert.Equal(new[] { 60, 30 }, Mx.TakeAlongAxis(m, Mx.Array(new[] { 3, 1 }), null).ToArray<int>());
        Assert.Equal(new[] { 10, 40, 20 }, Mx.TakeAlongAxis(m, Mx.Array(new[] { 0, 1, 0 }, new[] { 1, 3 }), 0).ToArray<int>());
        Assert.Equal(new[] { 20, 10, 50, 60 }, Mx.TakeAlongAxis(m, Mx.Array(new[] { -1, 0 }, new[] { 1, 2 }), 1).ToArray<int>());
        var p = Mx.PutAlongAxis(m, am, Mx.Array(0), 1);
        Assert.Equal(new[] { 10, 0, 20, 0, 40, 50 }, p.ToArray<int>());
        var q = Mx.PutAlongAxis(Mx.Zeros(new[] { 2, 3 }, DType.Int32), Mx.Array(new[] { 2, 0 }, new[] { 2, 1 }), Mx.Array(new[] { 7, 8 }, new[] { 2, 1 }), 1);
        Assert.Equal(new[] { 0, 0, 7, 8, 0, 0 }, q.ToArray<int>());
        Assert.Equal(new[] { 10, 30, 20, 60, 40, 50 }, m.ToArray<int>());
        Assert.Equal(new[] { 10, 30, 20, 60, 40, -1 }, Mx.PutAlongAxis(m, Mx.Array(new[] { -1 }), Mx.Array(-1), null).ToArray<int>());
    }

    [Fact]
    public void PutAlongAxisBroadcastsIndicesAgainstTheArray()
    {
        // NumPy: put_along_axis(zeros((2, 3)), [[1]], 5, axis=1) writes column 1 of both rows.
        var r = Mx.PutAlongAxis(Mx.Zeros(new[] { 2, 3 }, DType.Int32), Mx.Array(new[] { 1 }, new[] { 1, 1 }), Mx.Array(5), 1);
        Assert.Equal(new[] { 0, 5, 0, 0, 5, 0 }, r.ToArray<int>());
        var t = Mx.TakeAlongAxis(Mx.Reshape(Mx.Arange(0, 6), new[] { 2, 3 }), Mx.Array(new[] { 2 }, new[] { 1, 1 }), 1);
        Assert.Equal(new[] { 2, 5 }, t.ToArray<int>());
        // Indices larger than the array off the axis are refused, not written out of bounds.
        Assert.Throws<ArgumentException>(() => Mx.PutAlongAxis(Mx.Zeros(new[] { 1, 3 }), Mx.Zeros(new[] { 4, 1 }, DType.Int32), Mx.Array(1f), 1));
    }

    [Theory]
    [InlineData(0, new[] { 3, 50, 1500 })]
    [InlineData(1, new[] { 3, 50, 1500 })]
    [InlineData(0, new[] { 40, 1000 })]
    [InlineData(0, new[] { 40, 70 })]
    public void TakeAndScatterAtEmbeddingScaleMatchALoop(int axis, int[] shape)
    {
        // (3, 50, 1500) with 700 indices (duplicates) along axis 0 or 1, and 700 updates into 40 long or short
        // rows: destination rows written in parallel; every mode against the obvious loop, duplicates combined in
        // index order (the last one wins without a mode).
        var r = new System.Random(axis + 3);
        var data = Enumerable.Range(0, shape.Aggregate(1, (p, q) => p * q)).Select(_ => (float)Math.Round(r.NextDouble() * 8 - 4, 2)).ToArray();
        var a = Mx.Array(data, shape);
        int k = shape[axis], m = 700;
        var idx = Enumerable.Range(0, m).Select(_ => r.Next(k)).ToArray();
        int A = shape.Take(axis).Aggregate(1, (p, q) => p * q), B = shape.Skip(axis + 1).Aggregate(1, (p, q) => p * q);
        var taken = Mx.Take(a, Mx.Array(idx), axis).ToArray<float>();
        for (int i = 0; i < A; i++)
            for (int j = 0; j < m; j += 7)
                for (int c = 0; c < B; c += 13)
                    Assert.Equal(data[(i * k + idx[j]) * B + c], taken[(i * m + j) * B + c]);
        var updShape = shape.ToArray();
        updShape[axis] = m;
        var upd = Enumerable.Range(0, A * m * B).Select(_ => (float)Math.Round(r.NextDouble() * 2 - 1, 2)).ToArray();
        foreach (var mode in new[] { ScatterMode.None, ScatterMode.Add, ScatterMode.Prod, ScatterMode.Max, ScatterMode.Min })
        {
            var want = (float[])data.Clone();
            for (int i = 0; i < A; i++)
                for (int j = 0; j < m; j++)
                    for (int c = 0; c < B; c++)
                    {
                        ref float d = ref want[(i * k + idx[j]) * B + c];
                        float u = upd[(i * m + j) * B + c];
                        d = mode switch { ScatterMode.None => u, ScatterMode.Add => d + u, ScatterMode.Prod => d * u, ScatterMode.Max => Math.Max(d, u), _ => Math.Min(d, u) };
                    }
            var got = Mx.ScatterAxis(a, Mx.Array(idx), Mx.Array(upd, updShape), axis, mode).ToArray<float>();
            Assert.Equal(want, got);
        }
    }

    [Fact]
    public void ScatterAddAccumulatesDuplicates()
    {
        var a = Mx.Zeros(new[] { 5 });
        var idx = Mx.Array(new[] { 1, 1, 3, 1, -1 });
        var r = Mx.ScatterAdd(a, idx, Mx.Array(new[] { 1f, 2f, 3f, 4f, 5f }), 0);
        Assert.Equal(new[] { 0f, 7f, 0f, 3f, 5f }, r.ToArray<float>());
        var ri = Mx.ScatterAdd(Mx.Ones(new[] { 3 }, DType.Int32), Mx.Array(new[] { 0, 0, 0 }), Mx.Array(new[] { 1, 1, 1 }), 0);
        Assert.Equal(new[] { 4, 1, 1 }, ri.ToArray<int>());
        var rh = Mx.ScatterAdd(Mx.Zeros(new[] { 2 }, DType.Float16), Mx.Array(new[] { 0, 0 }), Mx.Array(new[] { 0.5, 0.25 }), 0);
        Assert.Equal(DType.Float16, rh.DType);
        Assert.Equal(new[] { 0.75, 0 }, rh.AsType(DType.Float64).ToArray<double>());
        // Rows of a matrix.
        var m = Mx.ScatterAdd(Mx.Zeros(new[] { 3, 2 }), Mx.Array(new[] { 2, 2 }), Mx.Ones(new[] { 2, 2 }), 0);
        Assert.Equal(new[] { 0f, 0, 0, 0, 2, 2 }, m.ToArray<float>());
        // Along axis 1 with broadcast updates.
        var c = Mx.ScatterAdd(Mx.Zeros(new[] { 2, 3 }), Mx.Array(new[] { 0, 0 }), Mx.Array(1f), 1);
        Assert.Equal(new[] { 2f, 0, 0, 2, 0, 0 }, c.ToArray<float>());
    }

    [Fact]
    public void ScatterIntoATransposedSourceAndOtherDtypes()
    {
        // A transposed (non-contiguous) source, and plain scatters of 2-, 8- and 1-byte dtypes.
        var src = Mx.Reshape(Mx.Arange(12, DType.Float32), new[] { 3, 4 });
        var at = Mx.Transpose(src); // (4, 3): row r is column r of src
        var idx = Mx.Array(new[] { 3, 1, 3 });
        var upd = Mx.Array(new[] { 1f, 2f, 3f, 10f, 20f, 30f, 100f, 200f, 250f }, new[] { 3, 3 });
        var want = new[] { 0f, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 };
        var add = (float[])want.Clone();
        for (int c = 0; c < 3; c++) { add[3 * 3 + c] += upd.ToArray<float>()[c] + upd.ToArray<float>()[6 + c]; add[1 * 3 + c] += upd.ToArray<float>()[3 + c]; }
        Assert.Equal(add, Mx.ScatterAdd(at, idx, upd, 0).ToArray<float>());
        var put = (float[])want.Clone();
        for (int c = 0; c < 3; c++) { put[3 * 3 + c] = upd.ToArray<float>()[6 + c]; put[1 * 3 + c] = upd.ToArray<float>()[3 + c]; }
        Assert.Equal(put, Mx.Scatter(at, idx, upd, 0).ToArray<float>());
        Assert.Equal(put.Select(v => (double)v), Mx.Scatter(Mx.AsType(at, DType.Float16), idx, upd, 0).AsType(DType.Float64).ToArray<double>());
        var cplx = Mx.Scatter(Mx.AsType(at, DType.Complex64), idx, upd, 0);
        Assert.Equal(put, Mx.Real(cplx).ToArray<float>());
        Assert.Equal(put.Select(v => (byte)v), Mx.Scatter(Mx.AsType(at, DType.UInt8), idx, upd, 0).ToArray<byte>());
        Assert.Equal(Enumerable.Range(0, 12).Select(v => (float)v), src.ToArray<float>());
    }

    [Fact]
    public void BoolScatterAddIsOr()
    {
        var r = Mx.ScatterAdd(Mx.Array(new[] { true, false, false }), Mx.Array(new[] { 0, 1, 1 }), Mx.Array(new[] { true, true, true }), 0);
        Assert.Equal(new[] { true, true, false }, r.ToArray<bool>());
        var p = Mx.ScatterProd(Mx.Array(new[] { true, true }), Mx.Array(new[] { 0 }), Mx.Array(new[] { false }), 0);
        Assert.Equal(new[] { false, true }, p.ToArray<bool>());
    }

    [Fact]
    public void ScatterModes()
    {
        var a = Mx.Array(new[] { 1f, 2f, 3f });
        var idx = Mx.Array(new[] { 0, 2, 0 });
        var u = Mx.Array(new[] { 5f, -1f, 4f });
        var s = Mx.Scatter(a, idx, u, 0).ToArray<float>();
        Assert.Equal(2f, s[1]);
        Assert.Equal(-1f, s[2]);
        Assert.Contains(s[0], new[] { 5f, 4f });
        Assert.Equal(new[] { 20f, 2f, -3f }, Mx.ScatterProd(a, idx, u, 0).ToArray<float>());
        Assert.Equal(new[] { 5f, 2f, 3f }, Mx.ScatterMax(a, idx, u, 0).ToArray<float>());
        Assert.Equal(new[] { 1f, 2f, -1f }, Mx.ScatterMin(a, idx, u, 0).ToArray<float>());
        Assert.True(float.IsNaN(Mx.ScatterMax(a, Mx.Array(new[] { 1 }), Mx.Array(new[] { float.NaN }), 0).ToArray<float>()[1]));
        Assert.Equal(new[] { 1f, 2f, 3f }, a.ToArray<float>());
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Scatter(a, Mx.Array(new[] { 3 }), Mx.Array(new[] { 0f }), 0).ToArray<float>());
    }

    [Fact]
    public void SliceUpdate()
    {
        var m = M34();
        var r = Mx.SliceUpdate(m, Mx.Array(new[] { -1, -2 }), new[] { 1, 1 }, new[] { 2, 3 });
        Assert.Equal(new[] { 0, 1, 2, 3, 4, -1, -2, 7, 8, 9, 10, 11 }, r.ToArray<int>());
        var s = Mx.SliceUpdate(m, Mx.Array(0), new[] { 0, 0 }, new[] { 3, 4 }, new[] { 2, 3 });
        Assert.Equal(new[] { 0, 1, 2, 0, 4, 5, 6, 7, 0, 9, 10, 0 }, s.ToArray<int>());
        var n = Mx.SliceUpdate(m, Mx.Array(new[] { 100, 200, 300 }, new[] { 3, 1 }), new[] { 2, 0 }, new[] { -4, 1 }, new[] { -1, 1 });
        Assert.Equal(new[] { 300, 200, 100 }, n[.., 0].ToArray<int>());
        Assert.Equal(new[] { 0, 4, 8 }, m[.., 0].ToArray<int>());
        var f = Mx.SliceUpdate(m, Mx.Array(9.7f), new[] { 0, 0 }, new[] { 1, 1 });
        Assert.Equal(DType.Int32, f.DType);
        Assert.Equal(9, f[0, 0].Item<int>());
        Assert.Equal(m.ToArray<int>(), Mx.SliceUpdate(m, Mx.Array(5), new[] { 1, 1 }, new[] { 1, 1 }).ToArray<int>());
    }

    [Fact]
    public void DiagonalDiagTrace()
    {
        var m = M34();
        Assert.Equal(new[] { 0, 5, 10 }, Mx.Diagonal(m).ToArray<int>());
        Assert.Equal(new[] { 1, 6, 11 }, Mx.Diagonal(m, 1).ToArray<int>());
        Assert.Equal(new[] { 4, 9 }, Mx.Diagonal(m, -1).ToArray<int>());
        Assert.Empty(Mx.Diagonal(m, 4).ToArray<int>());
        Assert.Equal(new[] { 0, 5, 10 }, Mx.Diagonal(m.T, 0, 1, 0).ToArray<int>());
        var b = Mx.Reshape(Mx.Arange(0, 8), new[] { 2, 2, 2 });
        Assert.Equal(new[] { 0, 3, 4, 7 }, Mx.Diagonal(b, 0, 1, 2).ToArray<int>());
        Assert.Equal(new[] { 0, 6, 1, 7 }, Mx.Diagonal(b, 0, 0, 1).ToArray<int>());
        Assert.Equal(new[] { 1, 0, 0, 0, 2, 0, 0, 0, 3 }, Mx.Diag(Mx.Array(new[] { 1, 2, 3 })).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 0, 0, 0, 2, 0, 0, 0 }, Mx.Diag(Mx.Array(new[] { 1, 2 }), 1).ToArray<int>());
        Assert.Equal(new[] { 0, 0, 0, 1, 0, 0, 0, 2, 0 }, Mx.Diag(Mx.Array(new[] { 1, 2 }), -1).ToArray<int>());
        Assert.Equal(new[] { 0, 5, 10 }, Mx.Diag(m).ToArray<int>());
        Assert.Equal(15, Mx.Trace(m).Item<int>());
        Assert.Equal(18, Mx.Trace(m, 1).Item<int>());
        Assert.Equal(DType.Float32, Mx.Trace(m, dtype: DType.Float32).DType);
    }
    [Theory]
    [InlineData(DType.Float16)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float32)]
    public void TakeAlongAxisGradientAccumulatesRepeatedIndicesInEveryFloatType(DType dtype)
    {
        // The gradient of take_along_axis adds the cotangent into every position read, repeats included.
        var x = Mx.AsType(Mx.Array(new double[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 }), dtype);
        var idx = Mx.Array(new[] { 0, 0, 2, 1, 1, 1 }, new[] { 2, 3 });
        var w = Mx.AsType(Mx.Array(new double[] { 0.5, 0.25, 2, 1, 3, 4 }, new[] { 2, 3 }), dtype);
        var g = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.TakeAlongAxis(a, idx, 1), w)))(x);
        Assert.Equal(dtype, g.DType);
        Assert.Equal(new double[] { 0.75, 0, 2, 0, 8, 0 }, g.AsType(DType.Float64).ToArray<double>());
    }
}
