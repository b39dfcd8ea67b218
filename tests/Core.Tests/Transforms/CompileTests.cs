using Mlx.Nn;
using Mlx.Optimizers;

namespace Mlx.Core.Tests.Transforms;

public class CompileTests
{
    private static MxArray Rand(int[] shape, ulong seed) => Mx.Random.Normal(shape, key: Mx.Random.Key(seed));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1023)]
    [InlineData(5000)]
    public void FusedChainEqualsUncompiled(int n)
    {
        MxArray[] F(MxArray[] x) => new[] { Mx.Add(Mx.Multiply(Mx.Exp(Mx.Multiply(x[0], x[1])), x[2]), 1.5) };
        var inputs = new[] { Rand(new[] { n }, 1), Rand(new[] { n }, 2), Rand(new[] { n }, 3) };
        var compiled = Mx.Compile(F);
        var result = compiled(inputs)[0];
        // The whole chain became one fused node.
        Assert.Equal("Fused[Multiply,Exp,Multiply,Add]", result.Primitive!.Name);
        Assert.Equal(F(inputs)[0].ToArray<float>(), result.ToArray<float>());
        // Replay with new values of the same shape.
        var other = new[] { Rand(new[] { n }, 4), Rand(new[] { n }, 5), Rand(new[] { n }, 6) };
        Assert.Equal(F(other)[0].ToArray<float>(), compiled(other)[0].ToArray<float>());
    }

    [Fact]
    public void BroadcastAndNonContiguousInputsAndNewShapes()
    {
        MxArray[] F(MxArray[] x) => new[] { Mx.Tanh(Mx.Subtract(Mx.Multiply(x[0], x[1]), x[0])) };
        var compiled = Mx.Compile(F);
        var a = Mx.Transpose(Rand(new[] { 17, 33 }, 7));
        var b = Rand(new[] { 1, 17 }, 8);
        Assert.Equal(F(new[] { a, b })[0].ToArray<float>(), compiled(new[] { a, b })[0].ToArray<float>());
        var c = Rand(new[] { 4, 7 }, 9)[.., Idx.Slice(null, null, -2)];
        var d = Rand(new[] { 4 }, 10);
        Assert.Equal(F(new[] { c, d })[0].ToArray<float>(), compiled(new[] { c, d })[0].ToArray<float>());
    }

    [Fact]
    public void MixedGraphsAndCommonSubexpressions()
    {
        MxArray[] F(MxArray[] x)
        {
            var h = Mx.Matmul(x[0], x[1]);
            var s1 = Mx.Sin(h);
            var s2 = Mx.Sin(h); // merged with s1 by the compiler
            return new[] { Mx.Sum(Mx.Add(s1, s2), new[] { 1 }), Mx.Multiply(s1, 2.0) };
        }
        var x0 = Rand(new[] { 5, 6 }, 11);
        var x1 = Rand(new[] { 6, 3 }, 12);
        var expected = F(new[] { x0, x1 });
        var got = Mx.Compile(F)(new[] { x0, x1 });
        for (int k = 0; k < 2; k++)
        {
            var e = expected[k].ToArray<float>();
            var g = got[k].ToArray<float>();
            for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], g[i], 5);
        }
    }

    [Fact]
    public void CompiledActivationsInsideACompiledFunctionAndItsGradient()
    {
        // nn.gelu and nn.silu are compiled functions themselves: nested in another compiled function, and
        // differentiated through both.
        MxArray F(MxArray[] a) => Mx.Multiply(Mx.Add(Mlx.Nn.Nn.Gelu(a[0]), Mlx.Nn.Nn.Silu(a[0])), 2f);
        var x = Rand(new[] { 7, 33 }, 61);
        var outer = Mx.Compile(a => new[] { F(a) });
        var want = F(new[] { x }).ToArray<float>();
        Assert.Equal(want, outer(new[] { x })[0].ToArray<float>());
        var gWant = Mx.Grad(a => Mx.Sum(F(a)))(new[] { x })[0].ToArray<float>();
        var gGot = Mx.Grad(a => Mx.Sum(outer(a)[0]))(new[] { x })[0].ToArray<float>();
        for (int i = 0; i < gWant.Length; i++) Assert.Equal(gWant[i], gGot[i], 5);
    }

    [Fact]
    public void ScalarAndColumnOperandsInAFusedChain()
    {
        // Scalars on either side of non-commutative steps, a per-row column (constant along the tile), a unary step
        // of that column, and a step whose operands are both constant along the tile.
        MxArray F(MxArray[] a) => Mx.Add(
            Mx.Divide(Mx.Maximum(Mx.Subtract(2f, a[0]), 0.5f), Mx.Divide(3f, a[0])),
            Mx.Add(Mx.Exp(a[1]), Mx.Multiply(Mx.Subtract(a[1], 1f), Mx.Minimum(a[1], 0.25f))));
        var compiled = Mx.Compile(a => new[] { F(a) });
        foreach (var (rows, cols) in new[] { (3, 5), (40, 9000), (1, 1) })
        {
            var x = Rand(new[] { rows, cols }, 51);
            var c = Rand(new[] { rows, 1 }, 52);
            var got = compiled(new[] { x, c })[0];
            Assert.StartsWith("Fused[", got.Primitive!.Name);
            var want = F(new[] { x, c }).ToArray<float>();
            var g = got.ToArray<float>();
            for (int i = 0; i < want.Length; i++) Assert.True(want[i] == g[i] || Math.Abs(want[i] - g[i]) <= 1e-6f * Math.Abs(want[i]), $"{rows}x{cols} [{i}]: {g[i]} vs {want[i]}");
        }
    }

    [Fact]
    public void ACompiledFunctionIsDifferentiable()
    {
        // A fused chain with a broadcast operand: its gradient must come back reduced to the operand's shape.
        MxArray F(MxArray[] a) => Mx.Add(Mx.Multiply(Mx.Tanh(Mx.Multiply(a[0], a[1])), a[0]), Mx.Divide(a[1], 3f));
        var compiled = Mx.Compile(a => new[] { F(a) });
        var x = Rand(new[] { 5, 7 }, 41);
        var v = Rand(new[] { 7 }, 42);
        Assert.StartsWith("Fused[", compiled(new[] { x, v })[0].Primitive!.Name);
        MxArray Loss(MxArray[] a, Func<MxArray[], MxArray> f) => Mx.Sum(Mx.Square(f(a)));
        var want = Mx.Grad(a => Loss(a, F), new[] { 0, 1 })(new[] { x, v });
        var got = Mx.Grad(a => Loss(a, b => compiled(b)[0]), new[] { 0, 1 })(new[] { x, v });
        Assert.Equal(new[] { 5, 7 }, got[0].Shape);
        Assert.Equal(new[] { 7 }, got[1].Shape);
        for (int k = 0; k < 2; k++)
        {
            var e = want[k].ToArray<float>();
            var g = got[k].ToArray<float>();
            for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], g[i], 4);
        }
        // Against central differences of the compiled function itself, for v.
        var vs = v.ToArray<float>();
        var gv = got[1].ToArray<float>();
        for (int i = 0; i < vs.Length; i++)
        {
            float h = 1e-2f;
            var vp = (float[])vs.Clone(); vp[i] += h;
            var vm = (float[])vs.Clone(); vm[i] -= h;
            double fp = Loss(new[] { x, Mx.Array(vp) }, b => compiled(b)[0]).Item<float>();
            double fm = Loss(new[] { x, Mx.Array(vm) }, b => compiled(b)[0]).Item<float>();
            double numeric = (fp - fm) / (2 * h);
            Assert.True(Math.Abs(numeric - gv[i]) <= 2e-2 * (1 + Math.Abs(numeric)), $"d/dv[{i}]: numeric {numeric} vs {gv[i]}");
        }
        // Forward mode: a tangent on x only, and on both.
        var tx = Rand(new[] { 5, 7 }, 43);
        var tv = Rand(new[] { 7 }, 44);
        foreach (var tangents in new[] { new[] { tx, Mx.ZerosLike(v) }, new[] { tx, tv } })
        {
            var (_, jw) = Mx.Jvp(a => new[] { F(a) }, new[] { x, v }, tangents);
            var (_, jg) = Mx.Jvp(compiled, new[] { x, v }, tangents);
            var e = jw[0].ToArray<float>();
            var g = jg[0].ToArray<float>();
            for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], g[i], 4);
        }
    }

    private static void Close(double want, float got) =>
        Assert.True(Math.Abs(want - got) <= 1e-6 + 2e-6 * Math.Abs(want), $"{got} vs {want}");

    [Fact]
    public void ActivationsMatchTheirDefinitionsAndDerivatives()
    {
        // gelu(x) = x Phi(x), gelu'(x) = Phi(x) + x phi(x); silu'(x) = s(x) (1 + x (1 - s(x))). Odd sizes, float32.
        var xs = Enumerable.Range(0, 1031).Select(i => -6f + 12f * i / 1030).ToArray();
        var x = Mx.Array(xs);
        var gelu = Mlx.Nn.Nn.Gelu(x).ToArray<float>();
        var dgelu = Mx.Grad(a => Mx.Sum(Mlx.Nn.Nn.Gelu(a)))(x).ToArray<float>();
        var silu = Mlx.Nn.Nn.Silu(x).ToArray<float>();
        var dsilu = Mx.Grad(a => Mx.Sum(Mlx.Nn.Nn.Silu(a)))(x).ToArray<float>();
        for (int i = 0; i < xs.Length; i++)
        {
            double t = xs[i];
            double phi = Math.Exp(-t * t / 2) / Math.Sqrt(2 * Math.PI);
            double cdf = 0.5 * (1 + MathNet.Numerics.SpecialFunctions.Erf(t / Math.Sqrt(2)));
            Close(t * cdf, gelu[i]);
            Close(cdf + t * phi, dgelu[i]);
            double s = 1 / (1 + Math.Exp(-t));
            Close(t * s, silu[i]);
            Close(s * (1 + t * (1 - s)), dsilu[i]);
        }
        // Empty, a non-contiguous view, float16 (not fused; the same graph replayed).
        Assert.Empty(Mlx.Nn.Nn.Gelu(Mx.Zeros(new[] { 0, 3 })).ToArray<float>());
        var m = Mx.Reshape(x[..1030], new[] { 10, 103 });
        var viaView = Mlx.Nn.Nn.Gelu(Mx.Transpose(m)).ToArray<float>();
        var direct = Mx.Transpose(Mx.Reshape(Mx.Array(gelu[..1030]), new[] { 10, 103 })).ToArray<float>();
        Assert.Equal(direct, viaView);
        var half = Mlx.Nn.Nn.Gelu(Mx.AsType(x, DType.Float16));
        Assert.Equal(DType.Float16, half.DType);
        var hv = Mx.AsType(half, DType.Float32).ToArray<float>();
        for (int i = 0; i < xs.Length; i++) Assert.True(Math.Abs(gelu[i] - hv[i]) <= 1e-2 * (1 + Math.Abs(gelu[i])), $"float16 gelu({xs[i]}) = {hv[i]}, want {gelu[i]}");
    }

    [Fact]
    public void ACompiledTrainingStepMatchesTheUncompiledOne()
    {
        // The step takes the parameters and a batch and returns the loss and the new parameters, so the model's
        // state passes through the compiled function as MLX's compile with inputs/outputs state does.
        Mx.Random.Seed(3);
        var model = new Sequential(new Linear(8, 16), (Func<MxArray, MxArray>)Mlx.Nn.Nn.Relu, new Linear(16, 4));
        var names = model.Parameters().Keys.ToArray();
        var optimizer = new SGD(0.1);
        MxArray[] Step(MxArray[] args)
        {
            var ps = names.Select((n, i) => (n, args[i])).ToDictionary(t => t.n, t => t.Item2);
            model.Update(ps);
            var (loss, grads) = Mlx.Nn.Nn.ValueAndGrad(model, a => Mlx.Nn.Nn.CrossEntropy(model.Forward(a[0]), a[1], reduction: "mean"))(new[] { args[^2], args[^1] });
            var updated = names.Select(n => Mx.Subtract(ps[n], Mx.Multiply(grads[n], 0.1))).ToArray();
            return updated.Prepend(loss).ToArray();
        }
        var x = Rand(new[] { 32, 8 }, 13);
        var y = Mx.Array(Enumerable.Range(0, 32).Select(i => i % 4).ToArray());
        var start = model.Parameters().Values.ToArray();
        var plain = Step(start.Append(x).Append(y).ToArray());
        var compiled = Mx.Compile(Step)(start.Append(x).Append(y).ToArray());
        for (int k = 0; k < plain.Length; k++)
        {
            var e = plain[k].ToArray<float>();
            var g = compiled[k].ToArray<float>();
            for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], g[i], 5);
        }
        Assert.NotNull(optimizer);
    }

    // Two nodes of one primitive kind over the same inputs but with different parameters must stay apart when the
    // compiler merges common subexpressions. Each case computes both and compares with the uncompiled function.
    private static readonly Dictionary<string, (Func<MxArray[], MxArray[]> F, Func<MxArray[]> Inputs)> ParameterCases = new()
    {
        ["sort-axis"] = (x => new[] { Mx.Sort(x[0], 0), Mx.Sort(x[0], 1) }, Square),
        ["argsort-axis"] = (x => new[] { Mx.ArgSort(x[0], 0), Mx.ArgSort(x[0], 1) }, Square),
        ["cumsum-reverse"] = (x => new[] { Mx.Cumsum(x[0], 1), Mx.Cumsum(x[0], 1, reverse: true) }, Square),
        ["cumsum-inclusive"] = (x => new[] { Mx.Cumsum(x[0], 1), Mx.Cumsum(x[0], 1, inclusive: false) }, Square),
        ["cummax-axis"] = (x => new[] { Mx.Cummax(x[0], 0), Mx.Cummax(x[0], 1) }, Square),
        ["argmax-axis"] = (x => new[] { Mx.ArgMax(x[0], 0), Mx.ArgMax(x[0], 1) }, Square),
        ["argmin-axis"] = (x => new[] { Mx.ArgMin(x[0], 0), Mx.ArgMin(x[0], 1) }, Square),
        ["logsumexp-axis"] = (x => new[] { Mx.Logsumexp(x[0], 0), Mx.Logsumexp(x[0], 1) }, Square),
        ["layer-norm-eps"] = (x => new[] { Mx.Fast.LayerNorm(x[0], null, null, 1e-5), Mx.Fast.LayerNorm(x[0], null, null, 1e-1), Mx.Fast.RmsNorm(x[0], null, 1e-5), Mx.Fast.RmsNorm(x[0], null, 1e-1) }, Square),
        ["softmax-axis"] = (x => new[] { Mx.Softmax(x[0], 0), Mx.Softmax(x[0], 1) }, Square),
        ["sum-axis"] = (x => new[] { Mx.Sum(x[0], 0), Mx.Sum(x[0], 1) }, Square),
        ["max-keepdims"] = (x => new[] { Mx.Max(x[0], 0, keepDims: true), Mx.Max(x[0], 0) }, Square),
        ["take-axis"] = (x => new[] { Mx.Take(x[0], x[1], 0), Mx.Take(x[0], x[1], 1) }, SquareAndIndices),
        ["scatter-axis"] = (x => new[] { Mx.ScatterAdd(x[0], x[1], x[0], 0), Mx.ScatterAdd(x[0], x[1], x[0], 1) }, SquareAndIndices),
        ["take-along-axis"] = (x => new[] { Mx.TakeAlongAxis(x[0], x[2], 0), Mx.TakeAlongAxis(x[0], x[2], 1) }, SquareAndIndices),
        ["put-along-axis"] = (x => new[] { Mx.PutAlongAxis(x[0], x[2], x[0], 0), Mx.PutAlongAxis(x[0], x[2], x[0], 1) }, SquareAndIndices),
        ["put-along-axis-mode"] = (x => new[] { Mx.PutAlongAxisRaw(x[0], x[2], x[0], 0, ScatterMode.None), Mx.PutAlongAxisRaw(x[0], x[2], x[0], 0, ScatterMode.Add) }, SquareAndIndices),
        ["concatenate-axis"] = (x => new[] { Mx.Concatenate(new[] { x[0] }, 0), Mx.Concatenate(new[] { x[0] }, 1), Mx.Concatenate(new[] { x[0], x[0] }, 0), Mx.Concatenate(new[] { x[0], x[0] }, 1) }, Square),
        ["slice-bounds"] = (x => new[] { Mx.Slice(x[0], new[] { 0, 0 }, new[] { 2, 4 }), Mx.Slice(x[0], new[] { 2, 0 }, new[] { 4, 4 }) }, Square),
        ["slice-update-bounds"] = (x => new[] { Mx.SliceUpdate(x[0], x[1], new[] { 0, 0 }, new[] { 2, 4 }), Mx.SliceUpdate(x[0], x[1], new[] { 2, 0 }, new[] { 4, 4 }) }, SquareAndRows),
        ["pad"] = (x => new[] { Mx.Pad(x[0], new[] { (1, 0), (0, 0) }), Mx.Pad(x[0], new[] { (0, 1), (0, 0) }) }, Square),
        ["reshape-shape"] = (x => new[] { Mx.Reshape(x[0], new[] { 2, 8 }), Mx.Reshape(x[0], new[] { 8, 2 }) }, Square),
        ["broadcast-shape"] = (x => new[] { Mx.BroadcastTo(x[0], new[] { 2, 4, 4 }), Mx.BroadcastTo(x[0], new[] { 3, 4, 4 }) }, Square),
        ["transpose-perm"] = (x => new[] { Mx.Transpose(x[0], new[] { 1, 0, 2 }), Mx.Transpose(x[0], new[] { 0, 2, 1 }) }, Cube),
        ["as-strided"] = (x => new[] { Mx.AsStrided(x[0], new[] { 4, 4 }, new long[] { 4, 1 }), Mx.AsStrided(x[0], new[] { 4, 4 }, new long[] { 1, 4 }), Mx.AsStrided(x[0], new[] { 4, 4 }, new long[] { 1, 4 }, 1) }, Long),
        ["view-dtype"] = (x => new[] { Mx.View(x[0], DType.Int32), Mx.View(x[0], DType.UInt32) }, Square),
        ["astype-dtype"] = (x => new[] { Mx.AsType(x[0], DType.Int32), Mx.AsType(x[0], DType.Float16) }, Square),
        ["conv-stride-dilation"] = (x => new[] { Mx.Conv1d(x[0], x[1], stride: 3), Mx.Conv1d(x[0], x[1], dilation: 5) }, () => new[] { Rand(new[] { 1, 7, 1 }, 21), Rand(new[] { 1, 2, 1 }, 22) }),
        ["conv-padding-stride"] = (x => new[] { Mx.Conv1d(x[0], x[1]), Mx.Conv1d(x[0], x[1], stride: 2, padding: 1) }, () => new[] { Rand(new[] { 1, 4, 1 }, 23), Rand(new[] { 1, 3, 1 }, 24) }),
        ["random-loc-scale"] = (x => new[] { Mx.Random.Normal(new[] { 8 }, key: x[0]), Mx.Random.Normal(new[] { 8 }, loc: 5, scale: 2, key: x[0]) }, () => new[] { Mx.Random.Key(5) }),
        ["random-shape"] = (x => new[] { Mx.Random.Uniform(new[] { 2, 4 }, key: x[0]), Mx.Random.Uniform(new[] { 4, 2 }, key: x[0]) }, () => new[] { Mx.Random.Key(6) }),
        ["random-width"] = (x => new[] { Mx.Random.Bits(new[] { 8 }, 4, x[0]), Mx.Random.Bits(new[] { 8 }, 2, x[0]), Mx.Random.Bits(new[] { 8 }, 1, x[0]) }, () => new[] { Mx.Random.Key(7) }),
        ["random-same"] = (x => new[] { Mx.Add(Mx.Random.Normal(new[] { 8 }, key: x[0]), Mx.Random.Normal(new[] { 8 }, key: x[0])) }, () => new[] { Mx.Random.Key(8) }),
    };

    private static MxArray[] Square() => new[] { Rand(new[] { 4, 4 }, 31) };
    private static MxArray[] Cube() => new[] { Rand(new[] { 2, 2, 2 }, 32) };
    private static MxArray[] Long() => new[] { Rand(new[] { 20 }, 33) };
    private static MxArray[] SquareAndRows() => new[] { Rand(new[] { 4, 4 }, 34), Rand(new[] { 2, 4 }, 35) };
    private static MxArray[] SquareAndIndices() =>
        new[] { Rand(new[] { 4, 4 }, 36), Mx.Array(new[] { 3, 0, 2, 1 }), Mx.Array(new[] { 3, 0, 2, 1, 1, 1, 0, 2, 2, 3, 3, 0, 0, 1, 2, 3 }, new[] { 4, 4 }) };

    public static TheoryData<string> ParameterCaseNames() => new(ParameterCases.Keys);

    [Theory]
    [MemberData(nameof(ParameterCaseNames))]
    public void NodesWithDifferentParametersAreNotMerged(string name)
    {
        var (f, inputs) = ParameterCases[name];
        var x = inputs();
        var expected = f(x);
        var got = Mx.Compile(f)(x);
        Assert.Equal(expected.Length, got.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            Assert.Equal(expected[k].ShapeRef, got[k].ShapeRef);
            Assert.Equal(expected[k].DType, got[k].DType);
            var e = Mx.AsType(expected[k], DType.Float64).ToArray<double>();
            var g = Mx.AsType(got[k], DType.Float64).ToArray<double>();
            for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - g[i]) <= 1e-5 * (1 + Math.Abs(e[i])), $"{name}: output {k}[{i}] is {g[i]}, expected {e[i]}");
        }
    }
}
