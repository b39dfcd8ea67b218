namespace Mlx.Core.Tests;

/// <summary>Reshape, Transpose, Squeeze/ExpandDims, Flatten, Broadcast, Concatenate/Stack/Split, Repeat/Tile, Pad, AsStrided, View, Roll; views share buffers.</summary>
public class ShapeTests
{
    private static MxArray M(int r, int c) => Mx.Reshape(Mx.Arange(0, r * c), new[] { r, c });

    [Fact]
    public void ViewsShareTheBuffer()
    {
        var a = M(4, 6);
        Mx.Eval(a);
        var views = new[]
        {
            Mx.Reshape(a, new[] { 2, 12 }), Mx.Transpose(a), a[1..3], a[Idx.Slice(null, null, -1)], a[.., 2],
            Mx.BroadcastTo(a, new[] { 3, 4, 6 }), Mx.ExpandDims(a, 0), Mx.SwapAxes(a, 0, 1), Mx.Squeeze(Mx.Reshape(a, new[] { 1, 24 })),
            Mx.Flatten(a), a.T[Idx.Slice(null, null, 2)],
        };
        Mx.Eval(views);
        for (int i = 0; i < views.Length; i++)
        {
            Assert.True(ReferenceEquals(a.Buffer, views[i].Buffer), $"view {i} copied");
        }
        Assert.Equal(new[] { 0, 6, 12, 18 }, views[1][0].ToArray<int>());
        // A reshape of a non-contiguous view must copy.
        var rt = Mx.Reshape(Mx.Transpose(a), new[] { 24 });
        Mx.Eval(rt);
        Assert.NotSame(a.Buffer, rt.Buffer);
        Assert.Equal(new[] { 0, 6, 12, 18, 1, 7 }, rt.ToArray<int>().Take(6).ToArray());
        // Contiguous() copies only when it must (mlx.core.contiguous: "copy if necessary").
        var c = Mx.Contiguous(a);
        var ct = Mx.Contiguous(Mx.Transpose(a));
        Mx.Eval(c, ct);
        Assert.Same(a.Buffer, c.Buffer);
        Assert.NotSame(a.Buffer, ct.Buffer);
        Assert.Equal(Mx.Transpose(a).ToArray<int>(), ct.ToArray<int>());
    }

    [Fact]
    public void ReshapeOfStridedViewsWithoutCopy()
    {
        var a = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        Mx.Eval(a);
        // Splitting and merging axes that stay contiguous among themselves is a view; the values follow NumPy.
        var cases = new (MxArray View, int[] Shape, int[] Expected)[]
        {
            (a[.., 1], new[] { 2, 2, 2 }, new[] { 4, 5, 6, 7, 16, 17, 18, 19 }),
            (a[.., .., 2], new[] { 3, 2 }, new[] { 2, 6, 10, 14, 18, 22 }),
            (a[Idx.Slice(null, null, -1)], new[] { 2, 12 }, Enumerable.Range(12, 12).Concat(Enumerable.Range(0, 12)).ToArray()),
            (a[.., .., Idx.Slice(null, null, 2)], new[] { 2, 3, 2, 1 }, new[] { 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22 }),
            (Mx.Transpose(a, new[] { 1, 0, 2 }), new[] { 3, 2, 2, 2 }, new[] { 0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23 }),
        };
        foreach (var (view, shape, expected) in cases)
        {
            var r = Mx.Reshape(view, shape);
            Assert.Equal(expected, r.ToArray<int>());
            Assert.True(ReferenceEquals(a.Buffer, r.Buffer), $"reshape to ({string.Join(",", shape)}) copied");
        }
        // Merging axes that are not contiguous with each other must copy, and still be right.
        var m = Mx.Reshape(a[.., 1], new[] { 8 });
        Assert.Equal(new[] { 4, 5, 6, 7, 16, 17, 18, 19 }, m.ToArray<int>());
        Assert.False(ReferenceEquals(a.Buffer, m.Buffer));
        var t = Mx.Reshape(Mx.Transpose(a, new[] { 1, 0, 2 }), new[] { 6, 4 });
        Assert.Equal(new[] { 0, 1, 2, 3, 12, 13, 14, 15 }, t.ToArray<int>().Take(8).ToArray());
        var e = Mx.Reshape(Mx.Zeros(new[] { 0, 4 })[.., Idx.Slice(null, null, 2)], new[] { 2, 0 });
        H.Shape(new[] { 2, 0 }, e);
        Assert.Empty(e.ToArray<float>());
    }

    [Fact]
    public void Reshape()
    {
        var a = Mx.Arange(0, 12);
        H.Shape(new[] { 3, 4 }, Mx.Reshape(a, new[] { 3, 4 }));
        H.Shape(new[] { 2, 6 }, Mx.Reshape(a, new[] { 2, -1 }));
        H.Shape(new[] { 2, 3, 2 }, Mx.Reshape(a, new[] { -1, 3, 2 }));
        H.Shape(Array.Empty<int>(), Mx.Reshape(Mx.Array(new[] { 5 }), Array.Empty<int>()));
        H.Shape(new[] { 0, 5 }, Mx.Reshape(Mx.Zeros(new[] { 0 }), new[] { 0, 5 }));
        Assert.Throws<ArgumentException>(() => Mx.Reshape(a, new[] { 5, -1 }));
        Assert.Throws<ArgumentException>(() => Mx.Reshape(a, new[] { -1, -1 }));
        Assert.Throws<ArgumentException>(() => Mx.Reshape(a, new[] { 5 }));
        Assert.Throws<ArgumentException>(() => Mx.Reshape(a, new[] { -2, 6 }));
        Assert.Throws<ArgumentException>(() => Mx.Reshape(Mx.Zeros(new[] { 0 }), new[] { 0, -1 }));
        Assert.Equal(Enumerable.Range(0, 12), Mx.Reshape(Mx.Reshape(a, new[] { 3, 4 }), new[] { 12 }).ToArray<int>());
    }

    [Fact]
    public void TransposeFamily()
    {
        var a = Mx.Reshape(Mx.Arange(0, 24), new[] { 2, 3, 4 });
        var t = Mx.Transpose(a);
        H.Shape(new[] { 4, 3, 2 }, t);
        Assert.Equal(13, t[1, 0, 1].Item<int>());
        var p = Mx.Transpose(a, new[] { 1, 0, 2 });
        H.Shape(new[] { 3, 2, 4 }, p);
        Assert.Equal(new[] { 0, 1, 2, 3, 12, 13, 14, 15, 4 }, p.ToArray<int>().Take(9).ToArray());
        H.Shape(new[] { 4, 3, 2 }, Mx.SwapAxes(a, 0, -1));
        H.Shape(new[] { 3, 4, 2 }, Mx.MoveAxis(a, 0, -1));
        H.Shape(new[] { 4, 2, 3 }, Mx.MoveAxis(a, -1, 0));
        Assert.Equal(Mx.Transpose(a, new[] { 2, 0, 1 }).ToArray<int>(), Mx.MoveAxis(a, -1, 0).ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.Transpose(a, new[] { 0, 1 }));
        Assert.Throws<ArgumentException>(() => Mx.Transpose(a, new[] { 0, 0, 1 }));
        Assert.Throws<ArgumentException>(() => Mx.Transpose(a, new[] { 0, 1, 3 }));
        Assert.Equal(new[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, M(3, 4).T.ToArray<int>());
    }

    [Fact]
    public void SqueezeExpandFlatten()
    {
        var a = Mx.Zeros(new[] { 1, 3, 1, 2 });
        H.Shape(new[] { 3, 2 }, Mx.Squeeze(a));
        H.Shape(new[] { 3, 1, 2 }, Mx.Squeeze(a, 0));
        H.Shape(new[] { 1, 3, 2 }, Mx.Squeeze(a, -2));
        Assert.Throws<ArgumentException>(() => Mx.Squeeze(a, 1));
        H.Shape(new[] { 1, 1, 3, 1, 2 }, Mx.ExpandDims(a, 0));
        H.Shape(new[] { 1, 3, 1, 2, 1 }, Mx.ExpandDims(a, -1));
        H.Shape(new[] { 1, 1, 3, 1, 1, 2 }, Mx.ExpandDims(a, new[] { 0, 4 }));
        H.Shape(new[] { 6 }, Mx.Flatten(a));
        H.Shape(new[] { 3, 2 }, Mx.Flatten(a, 0, 2));
        H.Shape(new[] { 1, 3, 2 }, Mx.Flatten(a, 1, 2));
        H.Shape(new[] { 1 }, Mx.Flatten(Mx.Array(1)));
        H.Shape(new[] { 1, 3, 1, 1, 2 }, Mx.Unflatten(a, 3, new[] { 1, 2 }));
        H.Shape(new[] { 1, 1 }, Mx.AtLeast2d(Mx.Array(1)));
        H.Shape(new[] { 1, 3 }, Mx.AtLeast2d(Mx.Zeros(new[] { 3 })));
        H.Shape(new[] { 1, 3, 1 }, Mx.AtLeast3d(Mx.Zeros(new[] { 3 })));
        H.Shape(new[] { 2, 3, 1 }, Mx.AtLeast3d(Mx.Zeros(new[] { 2, 3 })));
        H.Shape(new[] { 1 }, Mx.AtLeast1d(Mx.Array(1)));
    }

    [Fact]
    public void Broadcasting()
    {
        var a = Mx.Array(new[] { 1, 2, 3 });
        var b = Mx.BroadcastTo(a, new[] { 2, 3 });
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, b.ToArray<int>());
        Assert.Equal(new[] { 1, 1, 2, 2 }, Mx.BroadcastTo(Mx.Array(new[] { 1, 2 }, new[] { 2, 1 }), new[] { 2, 2 }).ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.BroadcastTo(a, new[] { 2, 4 }));
        Assert.Throws<ArgumentException>(() => Mx.BroadcastTo(a, new[] { 3, 1 }));
        H.Shape(new[] { 0, 3 }, Mx.BroadcastTo(a, new[] { 0, 3 }));
        var arrs = Mx.BroadcastArrays(Mx.Zeros(new[] { 3, 1 }), Mx.Zeros(new[] { 4 }), Mx.Array(1f));
        Assert.All(arrs, x => H.Shape(new[] { 3, 4 }, x));
        // Broadcast of a transposed view, then made contiguous.
        var t = Mx.Contiguous(Mx.BroadcastTo(M(2, 3).T, new[] { 2, 3, 2 }));
        Assert.Equal(new[] { 0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5 }, t.ToArray<int>());
    }

    [Fact]
    public void ConcatenateStackSplit()
    {
        var a = M(2, 3);
        var b = Mx.Array(new[] { 1.5f, 2.5f, 3.5f }, new[] { 1, 3 });
        var c = Mx.Concatenate(new[] { a, b });
        Assert.Equal(DType.Float32, c.DType);
        Assert.Equal(new[] { 0f, 1, 2, 3, 4, 5, 1.5f, 2.5f, 3.5f }, c.ToArray<float>());
        Assert.Equal(new[] { 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5 }, Mx.Concatenate(new[] { a, a }, 1).ToArray<int>());
        Assert.Equal(new[] { 0, 3, 0, 1, 4, 1, 2, 5, 2 }, Mx.Concatenate(new[] { a.T, a[..1].T }, -1).ToArray<int>());
        H.Shape(new[] { 2, 3 }, Mx.Concatenate(new[] { a, Mx.Zeros(new[] { 0, 3 }, DType.Int32) }));
        Assert.Throws<ArgumentException>(() => Mx.Concatenate(new[] { a, Mx.Zeros(new[] { 2, 2 }) }));
        Assert.Throws<ArgumentException>(() => Mx.Concatenate(Array.Empty<MxArray>()));
        var s = Mx.Stack(new[] { Mx.Array(new[] { 1, 2 }), Mx.Array(new[] { 3, 4 }) });
        H.Shape(new[] { 2, 2 }, s);
        Assert.Equal(new[] { 1, 3, 2, 4 }, Mx.Stack(new[] { Mx.Array(new[] { 1, 2 }), Mx.Array(new[] { 3, 4 }) }, 1).ToArray<int>());
        var parts = Mx.Split(Mx.Arange(0, 9), 3);
        Assert.Equal(3, parts.Length);
        Assert.Equal(new[] { 3, 4, 5 }, parts[1].ToArray<int>());
        var uneven = Mx.Split(Mx.Arange(0, 10), new[] { 2, 7 });
        Assert.Equal(new[] { 2, 5, 3 }, uneven.Select(p => (int)p.Size).ToArray());
        Assert.Equal(new[] { 7, 8, 9 }, uneven[2].ToArray<int>());
        var cols = Mx.Split(M(2, 4), 2, 1);
        Assert.Equal(new[] { 2, 3, 6, 7 }, cols[1].ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.Split(Mx.Arange(0, 10), 3));
    }

    [Fact]
    public void RepeatTilePad()
    {
        var a = Mx.Array(new[] { 1, 2 }, new[] { 1, 2 });
        Assert.Equal(new[] { 1, 1, 2, 2 }, Mx.Repeat(a, 2).ToArray<int>());
        Assert.Equal(new[] { 1, 1, 1, 2, 2, 2 }, Mx.Repeat(a, 3, 1).ToArray<int>());
        H.Shape(new[] { 2, 2 }, Mx.Repeat(a, 2, 0));
        Assert.Equal(new[] { 1, 2, 1, 2, 1, 2 }, Mx.Tile(Mx.Array(new[] { 1, 2 }), new[] { 3 }).ToArray<int>());
        var t = Mx.Tile(a, new[] { 2, 2 });
        H.Shape(new[] { 2, 4 }, t);
        Assert.Equal(new[] { 1, 2, 1, 2, 1, 2, 1, 2 }, t.ToArray<int>());
        H.Shape(new[] { 3, 1, 2 }, Mx.Tile(a, new[] { 3, 1, 1 }));
        var p = Mx.Pad(Mx.Array(new[] { 1, 2 }), new[] { (1, 2) }, 9);
        Assert.Equal(new[] { 9, 1, 2, 9, 9 }, p.ToArray<int>());
        var p2 = Mx.Pad(M(2, 2), 1);
        H.Shape(new[] { 4, 4 }, p2);
        Assert.Equal(new[] { 0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 3, 0, 0, 0, 0, 0 }, p2.ToArray<int>());
        Assert.Equal(new[] { 0.5f, 1, 0.5f }, Mx.Pad(Mx.Array(new[] { 1f }), 1, 0.5).ToArray<float>());
        Assert.Throws<ArgumentException>(() => Mx.Pad(a, new[] { (-1, 0), (0, 0) }));
    }

    [Fact]
    public void AsStridedViewRoll()
    {
        var a = Mx.Arange(0, 10);
        var w = Mx.AsStrided(a, new[] { 4, 3 }, new long[] { 2, 1 });
        Assert.Equal(new[] { 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8 }, w.ToArray<int>());
        Assert.Equal(new[] { 9, 8, 7 }, Mx.AsStrided(a, new[] { 3 }, new long[] { -1 }, 9).ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.AsStrided(a, new[] { 4, 3 }, new long[] { 3, 1 }));
        Assert.Throws<ArgumentException>(() => Mx.AsStrided(a, new[] { 2 }, new long[] { -1 }));
        var f = Mx.Array(new[] { 1f, -2f });
        Assert.Equal(new[] { 0x3F800000, unchecked((int)0xC0000000) }, Mx.View(f, DType.Int32).ToArray<int>());
        var bytes = Mx.View(f, DType.UInt8);
        H.Shape(new[] { 8 }, bytes);
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F }, bytes.ToArray<byte>().Take(4).ToArray());
        H.Shape(new[] { 1 }, Mx.View(f, DType.Float64));
        Assert.Equal(new[] { 0x3F800000 }, Mx.View(f[..1], DType.Int32).ToArray<int>());
        Assert.Equal(new[] { unchecked((int)0xC0000000), 0x3F800000 }, Mx.View(f[Idx.Slice(null, null, -1)], DType.Int32).ToArray<int>());
        Assert.Throws<ArgumentException>(() => Mx.View(Mx.Array(new byte[] { 1, 2, 3 }), DType.Int16));
        Assert.Equal(new[] { 8, 9, 0, 1, 2, 3, 4, 5, 6, 7 }, Mx.Roll(a, 2).ToArray<int>());
        Assert.Equal(new[] { 3, 4, 5, 6, 7, 8, 9, 0, 1, 2 }, Mx.Roll(a, -3).ToArray<int>());
        Assert.Equal(a.ToArray<int>(), Mx.Roll(a, 10).ToArray<int>());
        var m = M(2, 3);
        Assert.Equal(new[] { 2, 0, 1, 5, 3, 4 }, Mx.Roll(m, 1, 1).ToArray<int>());
        Assert.Equal(new[] { 3, 4, 5, 0, 1, 2 }, Mx.Roll(m, 1, 0).ToArray<int>());
        Assert.Equal(new[] { 5, 0, 1, 2, 3, 4 }, Mx.Roll(m, 1).ToArray<int>());
    }

    [Fact]
    public void AsStridedWithOffsetsFromMlxTests()
    {
        var x = H.RandF(128, 7);
        var xm = Mx.Array(x);
        var cases = new (int[] Shape, long[] Strides)[] { (new[] { 10, 10 }, new long[] { 3, 3 }), (new[] { 5, 5 }, new long[] { 7, 1 }), (new[] { 2, 20 }, new long[] { 1, 5 }), (new[] { 10 }, new long[] { 4 }) };
        foreach (var (shape, strides) in cases)
        {
            foreach (int offset in new[] { 0, 1, 3 })
            {
                var got = Mx.AsStrided(xm, shape, strides, offset).ToArray<float>();
                int e = 0;
                if (shape.Length == 1)
                {
                    for (int i = 0; i < shape[0]; i++) Assert.Equal(x[offset + i * strides[0]], got[e++]);
                }
                else
                {
                    for (int i = 0; i < shape[0]; i++)
                        for (int j = 0; j < shape[1]; j++)
                            Assert.Equal(x[offset + i * strides[0] + j * strides[1]], got[e++]);
                }
            }
        }
    }

    [Fact]
    public void PadWidthsFromMlxTests()
    {
        var a = Mx.Array(H.RandF(4 * 4 * 4, 8), new[] { 4, 4, 4 });
        var p = Mx.Pad(a, new[] { (3, 0), (0, 2), (5, 7) }, -7);
        H.Shape(new[] { 7, 6, 16 }, p);
        Assert.Equal(-7f, p[0, 0, 0].Item<float>());
        Assert.Equal(a[1, 2, 3].Item<float>(), p[4, 2, 8].Item<float>());
        Assert.Equal(-7f, p[4, 5, 8].Item<float>());
        H.Shape(new[] { 3, 3, 3 }, Mx.Pad(Mx.Zeros(new[] { 1, 1, 1 }), 1));
        H.Shape(new[] { 4, 4, 4 }, Mx.Pad(Mx.Zeros(new[] { 1, 1, 1 }), new[] { (1, 2) }));
        H.Shape(new[] { 4, 4, 5 }, Mx.Pad(Mx.Zeros(new[] { 1, 1, 1 }), new[] { (1, 2), (2, 1), (2, 2) }));
        Assert.Equal(a.ToArray<float>(), Mx.Pad(a, new[] { (0, 0), (0, 0), (0, 0) }).ToArray<float>());
    }

    [Fact]
    public void ConcatenateTransposedOperandsFromMlxTests()
    {
        var av = H.RandF(4 * 4 * 4, 9);
        var bv = H.RandF(4 * 4 * 4, 10);
        var a = Mx.Array(av, new[] { 4, 4, 4 });
        var b = Mx.Array(bv, new[] { 4, 4, 4 });
        foreach (var p in new[] { new[] { 0, 1, 2 }, new[] { 2, 1, 0 }, new[] { 1, 2, 0 } })
        {
            for (int axis = 0; axis < 3; axis++)
            {
                var c = Mx.Concatenate(new[] { a, Mx.Transpose(b, p) }, axis);
                var bt = Mx.Contiguous(Mx.Transpose(b, p));
                Assert.True(Mx.ArrayEqual(c, Mx.Concatenate(new[] { a, bt }, axis)).Item<bool>());
                var parts = Mx.Split(c, new[] { 4 }, axis);
                Assert.Equal(av, parts[0].ToArray<float>());
                Assert.Equal(bt.ToArray<float>(), parts[1].ToArray<float>());
            }
        }
    }

    [Fact]
    public void ReshapeOfBroadcastViews()
    {
        var a = Mx.Array(new[] { 1, 2, 3 });
        var b = Mx.BroadcastTo(a, new[] { 2, 3 });
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, Mx.Reshape(b, new[] { 6 }).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, Mx.Reshape(b, new[] { 1, 2, 3, 1 }).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 1, 2, 3 }, Mx.Reshape(b, new[] { 3, 2 }).ToArray<int>());
        var c = Mx.BroadcastTo(Mx.Array(new[] { 1, 2 }, new[] { 2, 1 }), new[] { 2, 4 });
        Assert.Equal(new[] { 1, 1, 1, 1, 2, 2, 2, 2 }, Mx.Reshape(c, new[] { 2, 2, 2 }).ToArray<int>());
        Assert.Equal(new[] { 1, 1, 1, 1, 2, 2, 2, 2 }, Mx.Reshape(c, new[] { 4, 2 }).ToArray<int>());
        Assert.Equal(new[] { 2, 2, 1, 1 }, Mx.Reshape(c[Idx.Slice(null, null, -1), 1..3], new[] { 4 }).ToArray<int>());
    }

    [Fact]
    public void RepeatTileOfNonContiguousInputs()
    {
        var t = M(2, 3).T; // [[0, 3], [1, 4], [2, 5]]
        Assert.Equal(new[] { 0, 3, 1, 4, 2, 5, 0, 3, 1, 4, 2, 5 }, Mx.Tile(t, new[] { 2, 1 }).ToArray<int>());
        Assert.Equal(new[] { 0, 3, 0, 3, 1, 4, 1, 4, 2, 5, 2, 5 }, Mx.Tile(t, new[] { 1, 2 }).ToArray<int>());
        Assert.Equal(new[] { 0, 0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5 }, Mx.Repeat(t, 2, -1).ToArray<int>());
        Assert.Equal(new[] { 2, 2, 1, 1, 0, 0 }, Mx.Repeat(Mx.Arange(0, 3)[Idx.Slice(null, null, -1)], 2).ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2, 0, 1, 2 }, Mx.Flatten(Mx.Stack(new[] { t.T[0], t.T[0] })).ToArray<int>());
        var p = Mx.Pad(t, 1, -1);
        Assert.Equal(new[] { -1, -1, -1, -1, -1, 0, 3, -1 }, p.ToArray<int>().Take(8).ToArray());
    }
}
