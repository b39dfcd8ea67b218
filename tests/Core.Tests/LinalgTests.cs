using MathNet.Numerics.LinearAlgebra;

namespace Mlx.Core.Tests;

/// <summary>Matmul (against MathNet), Addmm, Tensordot, Inner, Outer, Einsum.</summary>
public class LinalgTests
{
    private static Matrix<double> Ref(double[] v, int r, int c) => Matrix<double>.Build.Dense(r, c, (i, j) => v[i * c + j]);

    private static double[] RowMajor(Matrix<double> m) => Enumerable.Range(0, m.RowCount).SelectMany(i => Enumerable.Range(0, m.ColumnCount).Select(j => m[i, j])).ToArray();

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 17, 33)]
    [InlineData(33, 7, 17)]
    [InlineData(17, 33, 1)]
    [InlineData(1, 1023, 7)]
    [InlineData(65, 300, 70)]
    [InlineData(3, 0, 4)]
    [InlineData(2, 10, 2100)]
    [InlineData(200, 3, 5)]
    [InlineData(130, 777, 99)]
    public void MatmulMatchesMathNet(int m, int k, int n)
    {
        var av = H.Rand(m * k, 71);
        var bv = H.Rand(k * n, 72);
        var expected = RowMajor(Ref(av, m, k) * Ref(bv, k, n));
        H.Close(expected, Mx.Matmul(Mx.Array(av, new[] { m, k }), Mx.Array(bv, new[] { k, n })), 1e-12, 1e-12, "f64");
        var a32 = Mx.Array(av, new[] { m, k }, DType.Float32);
        var b32 = Mx.Array(bv, new[] { k, n }, DType.Float32);
        double tol = 1e-5 * Math.Sqrt(Math.Max(k, 1));
        H.Close(expected, Mx.Matmul(a32, b32), tol, tol, "f32");
        // Transposed operands: (A^T)^T stored column-major, same for B.
        var at = H.TransposedView(av, m, k);
        var bt = H.TransposedView(bv, k, n);
        H.Close(expected, Mx.Matmul(at, bt), tol, tol, "transposed");
        H.Close(expected, Mx.Matmul(a32, bt), tol, tol, "mixed");
        foreach (var t in new[] { DType.Float16, DType.BFloat16 })
        {
            var r = Mx.Matmul(Mx.Array(av, new[] { m, k }, t), Mx.Array(bv, new[] { k, n }, t));
            Assert.Equal(t, r.DType);
            var exp = RowMajor(Ref(H.RoundTo(av, t), m, k) * Ref(H.RoundTo(bv, t), k, n));
            var (rt, at2) = H.Tol(t);
            H.Close(exp, r, rt * 2, at2 * Math.Sqrt(Math.Max(k, 1)) * 2, t.ToString());
            // A half weight read as W^T (a transposed view: its float32 copy keeps the transposed layout) and a
            // 3-D permutation of a half array: same products as the row-major operands.
            var w = Mx.Array(bv, new[] { n, k }, t);
            var viaT = Mx.Matmul(Mx.Array(av, new[] { m, k }, t), Mx.Transpose(w));
            var expT = RowMajor(Ref(H.RoundTo(av, t), m, k) * Ref(H.RoundTo(bv, t), n, k).Transpose());
            H.Close(expT, viaT, rt * 2, at2 * Math.Sqrt(Math.Max(k, 1)) * 2, t + " W^T");
        }
    }

    [Fact]
    public void HalfOperandsInPermutedLayouts()
    {
        // (2, 3, 4) permuted to (4, 2, 3): a dense block in another axis order, converted without a transposing copy.
        var v = H.Rand(24, 5);
        foreach (var t in new[] { DType.Float16, DType.BFloat16 })
        {
            var x = Mx.Transpose(Mx.Array(v, new[] { 2, 3, 4 }, t), new[] { 2, 0, 1 });
            var x32 = Mx.Transpose(Mx.Array(H.RoundTo(v, t), new[] { 2, 3, 4 }, DType.Float32), new[] { 2, 0, 1 });
            var (rt, at) = H.Tol(t);
            H.Close(Mx.Matmul(x32, Mx.Ones(new[] { 3, 5 })).AsType(DType.Float64).ToArray<double>(), Mx.Matmul(x, Mx.Ones(new[] { 3, 5 }, t)), rt * 4, at * 4, t + " matmul");
            H.Close(Mx.Softmax(x32, -1).AsType(DType.Float64).ToArray<double>(), Mx.Softmax(x, -1), rt * 4, at * 4, t + " softmax");
            H.Close(Mx.Sum(x32, 0).AsType(DType.Float64).ToArray<double>(), Mx.Sum(x, 0), rt * 4, at * 4, t + " sum");
        }
    }

    [Fact]
    public void NegativeStepAndSlicedOperands()
    {
        var av = H.Rand(6 * 8, 73);
        var bv = H.Rand(8 * 5, 74);
        var a = Mx.Array(av, new[] { 6, 8 });
        var b = Mx.Array(bv, new[] { 8, 5 });
        var ar = a[Idx.Slice(null, null, -1), Idx.Slice(null, null, 2)]; // (6, 4)
        var br = b[Idx.Slice(1, null, 2), Idx.Slice(null, null, -1)];    // (4, 5)
        var ra = Matrix<double>.Build.Dense(6, 4, (i, j) => av[(5 - i) * 8 + 2 * j]);
        var rb = Matrix<double>.Build.Dense(4, 5, (i, j) => bv[(1 + 2 * i) * 5 + (4 - j)]);
        H.Close(RowMajor(ra * rb), Mx.Matmul(ar, br), 1e-12, 1e-12);
    }

    [Fact]
    public void BatchedAndBroadcastBatches()
    {
        var av = H.Rand(2 * 3 * 4, 75);
        var bv = H.Rand(4 * 5, 76);
        var a = Mx.Array(av, new[] { 2, 3, 4 });
        var b = Mx.Array(bv, new[] { 4, 5 });
        var r = Mx.Matmul(a, b);
        H.Shape(new[] { 2, 3, 5 }, r);
        var expected = Enumerable.Range(0, 2).SelectMany(i => RowMajor(Ref(av.Skip(i * 12).Take(12).ToArray(), 3, 4) * Ref(bv, 4, 5))).ToArray();
        H.Close(expected, r, 1e-12, 1e-12);
        var c = Mx.Matmul(Mx.Reshape(a, new[] { 2, 1, 3, 4 }), Mx.BroadcastTo(b, new[] { 3, 4, 5 }));
        H.Shape(new[] { 2, 3, 3, 5 }, c);
        H.Close(expected.Take(15).ToArray(), c[0, 2], 1e-12, 1e-12);
        Assert.Throws<ArgumentException>(() => Mx.Matmul(Mx.Zeros(new[] { 2, 3, 4 }), Mx.Zeros(new[] { 3, 4, 5 })));
    }

    [Fact]
    public void VectorOperands()
    {
        var m = Mx.Array(new[] { 1.0, 2, 3, 4, 5, 6 }, new[] { 2, 3 });
        var v = Mx.Array(new[] { 1.0, 0, -1 });
        var mv = Mx.Matmul(m, v);
        H.Shape(new[] { 2 }, mv);
        Assert.Equal(new[] { -2.0, -2 }, mv.ToArray<double>());
        var vm = Mx.Matmul(Mx.Array(new[] { 1.0, 1 }), m);
        H.Shape(new[] { 3 }, vm);
        Assert.Equal(new[] { 5.0, 7, 9 }, vm.ToArray<double>());
        var dot = Mx.Matmul(v, v);
        H.Shape(Array.Empty<int>(), dot);
        Assert.Equal(2.0, dot.Item<double>());
        var batch = Mx.Reshape(Mx.Arange(0.0, 12.0, 1.0, DType.Float64), new[] { 2, 3, 2 });
        var vb = Mx.Matmul(Mx.Array(new[] { 1.0, -1, 2 }), batch);
        H.Shape(new[] { 2, 2 }, vb);
        Assert.Equal(new[] { 6.0, 8, 18, 20 }, vb.ToArray<double>());
        var bv = Mx.Matmul(batch, Mx.Array(new[] { 1.0, 2 }));
        H.Shape(new[] { 2, 3 }, bv);
        Assert.Equal(new[] { 2.0, 8, 14, 20, 26, 32 }, bv.ToArray<double>());
        Assert.Throws<ArgumentException>(() => Mx.Matmul(Mx.Array(1.0), m));
        Assert.Throws<ArgumentException>(() => Mx.Matmul(m, m));
    }

    [Fact]
    public void IntegerMatmulIsRefused()
    {
        var a = Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 });
        var ex = Assert.Throws<ArgumentException>(() => Mx.Matmul(a, a));
        Assert.Contains("int32", ex.Message);
        Assert.Throws<ArgumentException>(() => Mx.Matmul(a.AsType(DType.Bool), a.AsType(DType.Bool)));
        Assert.Throws<ArgumentException>(() => Mx.Matmul(a.AsType(DType.Int8), a.AsType(DType.UInt8)));
        // Mixed with a float operand promotes to float and is fine.
        Assert.Equal(new[] { 7f, 10, 15, 22 }, Mx.Matmul(a, a.AsType(DType.Float32)).ToArray<float>());
    }

    [Fact]
    public void EmptyDims()
    {
        var z = Mx.Matmul(Mx.Zeros(new[] { 3, 0 }), Mx.Zeros(new[] { 0, 4 }));
        H.Shape(new[] { 3, 4 }, z);
        Assert.All(z.ToArray<float>(), v => Assert.Equal(0f, v));
        H.Shape(new[] { 0, 4 }, Mx.Matmul(Mx.Zeros(new[] { 0, 2 }), Mx.Zeros(new[] { 2, 4 })));
        Assert.Empty(Mx.Matmul(Mx.Zeros(new[] { 0, 2 }), Mx.Zeros(new[] { 2, 4 })).ToArray<float>());
    }

    [Fact]
    public void MatmulDoesNotLeakNaNFromOutputMemory()
    {
        // Buffers are recycled: a product must not read its output's previous contents.
        for (int i = 0; i < 3; i++)
        {
            var junk = Mx.Full(new[] { 8, 8 }, double.NaN);
            Mx.Eval(junk);
        }
        var r = Mx.Matmul(Mx.Ones(new[] { 8, 8 }), Mx.Ones(new[] { 8, 8 }));
        Assert.All(r.ToArray<float>(), v => Assert.Equal(8f, v));
    }

    [Fact]
    public void Addmm()
    {
        var a = Mx.Array(new[] { 1f, 2, 3, 4 }, new[] { 2, 2 });
        var c = Mx.Array(new[] { 1f, 1, 1, 1 }, new[] { 2, 2 });
        Assert.Equal(new[] { 8f, 11, 16, 23 }, Mx.Addmm(c, a, a).ToArray<float>());
        Assert.Equal(new[] { 13f, 19, 29, 43 }, Mx.Addmm(c, a, a, alpha: 2, beta: -1).ToArray<float>());
        Assert.Equal(new[] { 8f, 11, 16, 23 }, Mx.Addmm(Mx.Array(1f), a, a).ToArray<float>());
    }

    public static IEnumerable<object[]> AddmmCases()
    {
        foreach (var (m, k, n) in new[] { (1, 1, 1), (7, 17, 33), (33, 7, 17), (65, 300, 70), (3, 0, 4), (0, 5, 3), (256, 512, 10), (2, 10, 2100) })
        {
            foreach (var c in new[] { "full", "row", "column", "scalar" })
            {
                yield return new object[] { m, k, n, c };
            }
        }
    }

    [Theory]
    [MemberData(nameof(AddmmCases))]
    public void AddmmIsOneGemmIntoTheBroadcastBiasAndMatchesMathNet(int m, int k, int n, string cShape)
    {
        var av = H.Rand(m * k, 81);
        var bv = H.Rand(k * n, 82);
        int[] shape = cShape switch { "full" => new[] { m, n }, "row" => new[] { n }, "column" => new[] { m, 1 }, _ => System.Array.Empty<int>() };
        int cCount = shape.Aggregate(1, (p, d) => p * d);
        var cv = H.Rand(Math.Max(1, cCount), 83);
        double C(int i, int j) => cShape switch { "full" => cv[i * n + j], "row" => cv[j], "column" => cv[i], _ => cv[0] };
        var product = Ref(av, m, k) * Ref(bv, k, n);
        foreach (var (alpha, beta) in new[] { (1.0, 1.0), (2.0, -0.5), (0.5, 0.0) })
        {
            var expected = Enumerable.Range(0, m).SelectMany(i => Enumerable.Range(0, n).Select(j => alpha * product[i, j] + beta * C(i, j))).ToArray();
            foreach (var dtype in new[] { DType.Float64, DType.Float32 })
            {
                var a = Mx.Array(av, new[] { m, k }, dtype);
                // b as the transpose of a row-major (n, k) array: the layout nn.Linear's weight has.
                var b = Mx.Transpose(Mx.Array(Enumerable.Range(0, n * k).Select(t => bv[t % k * n + t / k]).ToArray(), new[] { n, k }, dtype));
                var c = Mx.Array(cv.Take(cCount).ToArray(), shape, dtype);
                var r = Mx.Addmm(c, a, b, alpha, beta);
                Assert.IsType<AddMMPrimitive>(r.Primitive);
                double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
                H.Close(expected, r.AsType(DType.Float64).ToArray<double>(), tol, tol * Math.Max(1, k), $"{dtype} alpha {alpha} beta {beta} c {cShape}");
            }
        }
    }

    [Fact]
    public void AddmmOverABatchAndItsDerivativesFollowTheComposition()
    {
        var av = H.Rand(2 * 5 * 3, 84);
        var bv = H.Rand(3 * 4, 85);
        var cv = H.Rand(4, 86);
        var a = Mx.Array(av, new[] { 2, 5, 3 });
        var b = Mx.Array(bv, new[] { 3, 4 });
        var c = Mx.Array(cv, new[] { 4 });
        var r = Mx.Addmm(c, a, b, 1.5, 2.0);
        Assert.IsType<AddMMPrimitive>(r.Primitive);
        H.Close(Mx.Add(Mx.Multiply(c, 2.0), Mx.Multiply(Mx.Matmul(a, b), 1.5)).ToArray<double>(), r.ToArray<double>(), 1e-12, 1e-12, "batched");
        var w = Mx.Array(H.Rand(2 * 5 * 4, 87), new[] { 2, 5, 4 });
        Nn.L.CheckGrad(x => Mx.Sum(Mx.Multiply(Mx.Addmm(x, a, b, 1.5, 2.0), w)), cv, new[] { 4 });
        Nn.L.CheckGrad(x => Mx.Sum(Mx.Multiply(Mx.Addmm(c, x, b, 1.5, 2.0), w)), av, new[] { 2, 5, 3 });
        Nn.L.CheckGrad(x => Mx.Sum(Mx.Multiply(Mx.Addmm(c, a, x, 1.5, 2.0), w)), bv, new[] { 3, 4 });
        // Forward mode and vmap agree with the composition.
        var t = Mx.Array(H.Rand(3 * 4, 88), new[] { 3, 4 });
        var (_, jvp) = Mx.Jvp(x => new[] { Mx.Addmm(c, a, x[0], 1.5, 2.0) }, new[] { b }, new[] { t });
        H.Close(Mx.Multiply(Mx.Matmul(a, t), 1.5).ToArray<double>(), jvp[0].ToArray<double>(), 1e-12, 1e-12, "jvp");
        var cs = Mx.Array(H.Rand(3 * 4, 89), new[] { 3, 4 });
        var mapped = Mx.Vmap(x => new[] { Mx.Addmm(x[0], a, b) }, new int?[] { 0 })(new[] { cs })[0];
        for (int i = 0; i < 3; i++)
        {
            H.Close(Mx.Addmm(cs[i], a, b).ToArray<double>(), mapped[i].ToArray<double>(), 1e-12, 1e-12, $"vmap {i}");
        }
    }

    [Fact]
    public void TensordotInnerOuter()
    {
        var av = H.Rand(2 * 3 * 4, 77);
        var bv = H.Rand(3 * 4 * 5, 78);
        var a = Mx.Array(av, new[] { 2, 3, 4 });
        var b = Mx.Array(bv, new[] { 3, 4, 5 });
        var r = Mx.Tensordot(a, b, 2);
        H.Shape(new[] { 2, 5 }, r);
        H.Close(RowMajor(Ref(av, 2, 12) * Ref(bv, 12, 5)), r, 1e-12, 1e-12);
        var r1 = Mx.Tensordot(a, b, new[] { 1 }, new[] { 0 });
        H.Shape(new[] { 2, 4, 4, 5 }, r1);
        double e = 0;
        for (int j = 0; j < 3; j++) e += av[1 * 12 + j * 4 + 2] * bv[j * 20 + 3 * 5 + 4];
        Assert.Equal(e, r1[1, 2, 3, 4].Item<double>(), 12);
        var r0 = Mx.Tensordot(Mx.Array(new[] { 1.0, 2 }), Mx.Array(new[] { 3.0, 4, 5 }), 0);
        Assert.Equal(new[] { 3.0, 4, 5, 6, 8, 10 }, r0.ToArray<double>());
        Assert.Throws<ArgumentException>(() => Mx.Tensordot(a, b, new[] { 0 }, new[] { 0 }));
        Assert.Equal(32.0, Mx.Inner(Mx.Array(new[] { 1.0, 2, 3 }), Mx.Array(new[] { 4.0, 5, 6 })).Item<double>());
        var inner = Mx.Inner(Mx.Array(new[] { 1.0, 2, 3, 4 }, new[] { 2, 2 }), Mx.Array(new[] { 1.0, 0, 0, 1, 1, 1 }, new[] { 3, 2 }));
        H.Shape(new[] { 2, 3 }, inner);
        Assert.Equal(new[] { 1.0, 2, 3, 3, 4, 7 }, inner.ToArray<double>());
        Assert.Equal(new[] { 3.0, 4, 6, 8 }, Mx.Outer(Mx.Array(new[] { 1.0, 2 }), Mx.Array(new[] { 3.0, 4 })).ToArray<double>());
        Assert.Equal(new[] { 1, 2, 3, 4, 2, 4, 6, 8 }, Mx.Outer(Mx.Array(new[] { 1, 2 }, new[] { 2, 1 }), Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 })).ToArray<int>());
        Assert.Equal(6.0, Mx.Inner(Mx.Array(2.0), Mx.Array(3.0)).Item<double>());
    }

    [Fact]
    public void EmptyContractions()
    {
        var r = Mx.Tensordot(Mx.Zeros(new[] { 2, 0 }), Mx.Zeros(new[] { 0, 3 }), 1);
        H.Shape(new[] { 2, 3 }, r);
        Assert.All(r.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.Equal(0f, Mx.Inner(Mx.Zeros(new[] { 0 }), Mx.Zeros(new[] { 0 })).Item<float>());
        H.Shape(new[] { 0, 3 }, Mx.Tensordot(Mx.Zeros(new[] { 0, 2 }), Mx.Zeros(new[] { 2, 3 }), 1));
        H.Shape(new[] { 0, 4 }, Mx.Outer(Mx.Zeros(new[] { 0 }), Mx.Zeros(new[] { 4 })));
        Assert.Equal(0f, Mx.Einsum("i,i", Mx.Zeros(new[] { 0 }), Mx.Zeros(new[] { 0 })).Item<float>());
    }

    [Fact]
    public void Einsum()
    {
        var av = H.Rand(3 * 4, 79);
        var bv = H.Rand(4 * 5, 80);
        var a = Mx.Array(av, new[] { 3, 4 });
        var b = Mx.Array(bv, new[] { 4, 5 });
        var ab = RowMajor(Ref(av, 3, 4) * Ref(bv, 4, 5));
        H.Close(ab, Mx.Einsum("ij,jk->ik", a, b), 1e-12, 1e-12);
        H.Close(ab, Mx.Einsum("ij,jk", a, b), 1e-12, 1e-12);
        H.Close(RowMajor(Ref(av, 3, 4).Transpose()), Mx.Einsum("ij->ji", a), 0, 0);
        H.Close(new[] { av.Sum() }, Mx.Einsum("ij->", a), 1e-12, 1e-12);
        var sq = Mx.Array(Enumerable.Range(0, 9).Select(i => (double)i).ToArray(), new[] { 3, 3 });
        Assert.Equal(new[] { 0.0, 4, 8 }, Mx.Einsum("ii->i", sq).ToArray<double>());
        Assert.Equal(12.0, Mx.Einsum("ii", sq).Item<double>());
        Assert.Equal(new[] { 3.0, 12, 21 }, Mx.Einsum("ij->i", sq).ToArray<double>());
        var v = Mx.Array(new[] { 1.0, 2, 3 });
        Assert.Equal(14.0, Mx.Einsum("i,i", v, v).Item<double>());
        Assert.Equal(new[] { 1.0, 2, 3, 2, 4, 6, 3, 6, 9 }, Mx.Einsum("i,j->ij", v, v).ToArray<double>());
        var bat = Mx.Array(H.Rand(2 * 3 * 4, 81), new[] { 2, 3, 4 });
        var bat2 = Mx.Array(H.Rand(2 * 4 * 2, 82), new[] { 2, 4, 2 });
        H.Close(Mx.Matmul(bat, bat2).ToArray<double>(), Mx.Einsum("bij,bjk->bik", bat, bat2), 1e-12, 1e-12);
        H.Close(Mx.Matmul(bat, bat2).ToArray<double>(), Mx.Einsum("...ij,...jk->...ik", bat, bat2), 1e-12, 1e-12);
        Assert.Throws<ArgumentException>(() => Mx.Einsum("ij,jk->ik", a, a));
        Assert.Throws<ArgumentException>(() => Mx.Einsum("ij", a, b));
    }

    // Brute-force einsum over explicit subscripts: loops over every letter's range.
    private static double[] EinsumRef(string spec, (double[] Data, int[] Shape)[] ops, out int[] outShape)
    {
        var parts = spec.Split("->");
        var ins = parts[0].Split(',');
        string output = parts[1];
        var size = new Dictionary<char, int>();
        for (int o = 0; o < ops.Length; o++)
            for (int k = 0; k < ins[o].Length; k++) size[ins[o][k]] = ops[o].Shape[k];
        var letters = size.Keys.ToArray();
        outShape = output.Select(c => size[c]).ToArray();
        var result = new double[outShape.Aggregate(1, (x, y) => x * y)];
        var val = new Dictionary<char, int>();
        void Loop(int li)
        {
            if (li == letters.Length)
            {
                double prod = 1;
                for (int o = 0; o < ops.Length; o++)
                {
                    int off = 0;
                    for (int k = 0; k < ins[o].Length; k++) off = off * ops[o].Shape[k] + val[ins[o][k]];
                    prod *= ops[o].Data[off];
                }
                int oo = 0;
                foreach (char c in output) oo = oo * size[c] + val[c];
                result[oo] += prod;
                return;
            }
            for (int v = 0; v < size[letters[li]]; v++) { val[letters[li]] = v; Loop(li + 1); }
        }
        Loop(0);
        return result;
    }

    [Theory]
    [InlineData("ij,jk->ik", new[] { 2, 3 }, new[] { 3, 4 })]
    [InlineData("ijk,ikl->jl", new[] { 2, 3, 4 }, new[] { 2, 4, 5 })]
    [InlineData("ij,ij->ij", new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData("ij,ij->", new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData("ij,kj->ki", new[] { 2, 5 }, new[] { 3, 5 })]
    [InlineData("i,j->ji", new[] { 3 }, new[] { 4 })]
    [InlineData("bij,bkj->bik", new[] { 2, 3, 4 }, new[] { 2, 5, 4 })]
    [InlineData("iij,jk->ik", new[] { 3, 3, 2 }, new[] { 2, 4 })]
    [InlineData("ijk,j->ki", new[] { 2, 3, 4 }, new[] { 3 })]
    public void EinsumMatchesBruteForce(string spec, int[] sa, int[] sb)
    {
        var av = H.Rand(sa.Aggregate(1, (x, y) => x * y), 91);
        var bv = H.Rand(sb.Aggregate(1, (x, y) => x * y), 92);
        var expected = EinsumRef(spec, new[] { (av, sa), (bv, sb) }, out var shape);
        var r = Mx.Einsum(spec, Mx.Array(av, sa), Mx.Array(bv, sb));
        H.Shape(shape, r);
        H.Close(expected, r, 1e-12, 1e-12, spec);
    }
}
