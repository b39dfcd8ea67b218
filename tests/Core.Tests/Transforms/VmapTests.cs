namespace Mlx.Core.Tests.Transforms;

/// <summary>Vmap against an explicit loop over the batch, through batching rules and through the fallback.</summary>
public class VmapTests
{
    private static MxArray Rand(int[] shape, ulong seed) => Mx.AsType(Mx.Random.Normal(shape, key: Mx.Random.Key(seed)), DType.Float64);

    private static void AssertLoop(Func<MxArray[], MxArray[]> f, MxArray[] args, int?[] inAxes, int outAxis, bool expectRules)
    {
        var batched = Mx.Vmap(f, inAxes, new[] { outAxis })(args)[0];
        if (expectRules)
        {
            // The rule path builds no per-element stack.
            Assert.NotEqual("Concatenate", batched.Primitive?.Name);
        }
        int n = args.Select((a, i) => inAxes[i] is { } ax ? a.Shape[ax < 0 ? ax + a.NDim : ax] : -1).Max();
        var loop = Enumerable.Range(0, n)
            .Select(b => f(args.Select((a, i) => inAxes[i] is { } ax ? Mx.Take(a, Mx.Array(b), ax) : a).ToArray())[0])
            .ToArray();
        var expected = Mx.Stack(loop, outAxis);
        Assert.Equal(expected.Shape, batched.Shape);
        var e = expected.ToArray<double>();
        var g = batched.ToArray<double>();
        for (int i = 0; i < e.Length; i++) Assert.Equal(e[i], g[i], 10);
    }

    [Fact]
    public void ElementwiseBroadcastAndReductions()
    {
        var x = Rand(new[] { 5, 3, 4 }, 1);
        var w = Rand(new[] { 4 }, 2);
        AssertLoop(a => new[] { Mx.Sum(Mx.Multiply(Mx.Exp(a[0]), a[1]), new[] { 1 }) }, new[] { x, w }, new int?[] { 0, null }, 0, true);
        AssertLoop(a => new[] { Mx.Max(Mx.Add(a[0], 1.0), new[] { 0 }, keepDims: true) }, new[] { x }, new int?[] { 2 }, 1, true);
        AssertLoop(a => new[] { Mx.Where(Mx.Greater(a[0], a[1]), a[0], a[1]) }, new[] { x, Rand(new[] { 5, 3, 4 }, 3) }, new int?[] { 1, 1 }, 0, true);
    }

    [Fact]
    public void MatmulSoftmaxViews()
    {
        var x = Rand(new[] { 6, 3, 4 }, 4);
        var w = Rand(new[] { 4, 5 }, 5);
        AssertLoop(a => new[] { Mx.Softmax(Mx.Matmul(a[0], a[1]), -1) }, new[] { x, w }, new int?[] { 0, null }, 0, true);
        AssertLoop(a => new[] { Mx.Reshape(Mx.Transpose(a[0])[1..3, ..], new[] { -1 }) }, new[] { x }, new int?[] { 0 }, 1, true);
        // A batched weight and a vector: both operands mapped.
        var ws = Rand(new[] { 6, 4, 5 }, 6);
        AssertLoop(a => new[] { Mx.Matmul(a[0], a[1]) }, new[] { x, ws }, new int?[] { 0, 0 }, 0, true);
    }

    [Fact]
    public void PrimitivesWithoutRulesFallBackToALoop()
    {
        var x = Rand(new[] { 4, 7 }, 7);
        AssertLoop(a => new[] { Mx.Cumsum(a[0], 0) }, new[] { x }, new int?[] { 1 }, 0, false);
    }

    [Fact]
    public void UnmappedOutputsAreBroadcast()
    {
        var x = Rand(new[] { 3, 2 }, 8);
        var c = Mx.Array(new double[] { 1, 2 });
        var r = Mx.Vmap(a => new[] { Mx.Multiply(a[1], 2.0) }, new int?[] { 0, null })(new[] { x, c })[0];
        Assert.Equal(new[] { 3, 2 }, r.Shape);
        Assert.Equal(new double[] { 2, 4, 2, 4, 2, 4 }, r.ToArray<double>());
    }
}
