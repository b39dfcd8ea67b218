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
}
