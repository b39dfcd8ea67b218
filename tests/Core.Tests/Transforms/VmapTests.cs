namespace Mlx.Core.Tests.Transforms;

/// <summary>Vmap against an explicit loop over the batch, through batching rules and through the fallback.</summary>
public class VmapTests
{
    private static MxArray Rand(int[] shape, ulong seed) => Mx.AsType(Mx.Random.Normal(shape, key: Mx.Random.Key(seed)), DType.Float64);

    private static void AssertLoop(Func<MxArray[], MxArray[]> f, MxArray[] args, int?[] inAxes, int outAxis, bool expectRules)
    {
        int fallbacks = Mx.VmapLoopFallbacks;
        var batched = Mx.Vmap(f, inAxes, new[] { outAxis })(args)[0];
        Assert.Equal(expectRules ? fallbacks : fallbacks + 1, Mx.VmapLoopFallbacks);
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
        // A scatter-max with per-element indices has no rule (the put-along kernel that would serve has no max).
        var idx = Mx.Array(new[] { 0, 3, 3, 1, 2, 2, 0 });
        AssertLoop(a => new[] { Mx.ScatterMax(a[0], a[1], 5.0, 0) }, new[] { x, idx }, new int?[] { null, 0 }, 0, false);
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

    [Fact]
    public void Scans()
    {
        var x = Rand(new[] { 5, 3, 7 }, 9);
        AssertLoop(a => new[] { Mx.Cumsum(a[0], 0) }, new[] { x }, new int?[] { 2 }, 0, true);
        AssertLoop(a => new[] { Mx.Cumprod(a[0], 1, reverse: true) }, new[] { x }, new int?[] { 0 }, 1, true);
        AssertLoop(a => new[] { Mx.Cummax(a[0], -1) }, new[] { x }, new int?[] { 1 }, 0, true);
        AssertLoop(a => new[] { Mx.Cummin(a[0], 0, inclusive: false) }, new[] { x }, new int?[] { 2 }, 0, true);
        AssertLoop(a => new[] { Mx.Logcumsumexp(a[0], null) }, new[] { x }, new int?[] { 0 }, 0, true);
    }

    [Fact]
    public void SortsAndArgReductions()
    {
        var x = Rand(new[] { 5, 3, 7 }, 10);
        AssertLoop(a => new[] { Mx.Sort(a[0], 0) }, new[] { x }, new int?[] { 2 }, 0, true);
        AssertLoop(a => new[] { Mx.AsType(Mx.ArgSort(a[0], -1), DType.Float64) }, new[] { x }, new int?[] { 1 }, 1, true);
        AssertLoop(a => new[] { Mx.Partition(a[0], 2, null) }, new[] { x }, new int?[] { 0 }, 0, true);
        AssertLoop(a => new[] { Mx.AsType(Mx.ArgPartition(a[0], 1, 0), DType.Float64) }, new[] { x }, new int?[] { 2 }, 0, true);
        AssertLoop(a => new[] { Mx.TopK(a[0], 2, 1) }, new[] { x }, new int?[] { 0 }, 0, true);
        AssertLoop(a => new[] { Mx.AsType(Mx.ArgMax(a[0], 1), DType.Float64) }, new[] { x }, new int?[] { 2 }, 0, true);
        AssertLoop(a => new[] { Mx.AsType(Mx.ArgMin(a[0], 0, keepDims: true), DType.Float64) }, new[] { x }, new int?[] { 1 }, 0, true);
    }

    [Fact]
    public void Gathers()
    {
        var x = Rand(new[] { 5, 3, 7 }, 11);
        var fixedIdx = Mx.Array(new[] { 2, 0, -1, 2 });
        var idx = Mx.Array(new[] { 0, 4, 2, 1, 4, 3, 3, 0, 2, 4, 1, 2, 0, 2, 3 }, new[] { 3, 5 });
        AssertLoop(a => new[] { Mx.Take(a[0], a[1], 1) }, new[] { x, fixedIdx }, new int?[] { 2, null }, 0, true);
        AssertLoop(a => new[] { Mx.Take(a[0], a[1], 2) }, new[] { x, idx }, new int?[] { null, 1 }, 0, true);
        AssertLoop(a => new[] { Mx.Take(a[0], a[1], 0) }, new[] { x, idx }, new int?[] { 1, 0 }, 2, true);
        AssertLoop(a => new[] { a[0][a[1], 1..] }, new[] { x, Mx.Array(new[] { 1, 0, 4 }) }, new int?[] { 1, 0 }, 0, true);
        var along = Mx.Array(new[] { 0, 2, 2, 1, 0, 1, 2, 0, 0, 1, 1, 2, 0, 2, 1 }, new[] { 5, 3, 1 });
        AssertLoop(a => new[] { Mx.TakeAlongAxis(a[0], a[1], 0) }, new[] { x, along }, new int?[] { 0, 0 }, 0, true);
        AssertLoop(a => new[] { Mx.TakeAlongAxis(a[0], a[1], 1) }, new[] { x, Mx.Array(new[] { 6, 0, 2, 2, 5, 1 }, new[] { 3, 2 }) }, new int?[] { 0, null }, 1, true);
    }

    [Fact]
    public void ScattersAndUpdates()
    {
        var x = Rand(new[] { 5, 3, 7 }, 12);
        var u = Rand(new[] { 5, 3, 2 }, 13);
        var idx = Mx.Array(new[] { 6, 1 });
        AssertLoop(a => new[] { Mx.Scatter(a[0], a[1], a[2], -1) }, new[] { x, idx, u }, new int?[] { 0, null, 0 }, 0, true);
        AssertLoop(a => new[] { Mx.ScatterAdd(a[0], a[1], a[2], 1) }, new[] { x, idx, Rand(new[] { 5, 2 }, 29) }, new int?[] { 1, null, null }, 0, true);
        AssertLoop(a => new[] { Mx.ScatterProd(a[0], a[1], a[2], 2) }, new[] { x, idx, Rand(new[] { 5, 4, 3, 2 }, 30) }, new int?[] { null, null, 1 }, 1, true);
        // Per-element indices (duplicates accumulate under add; the last write wins otherwise).
        var perElement = Mx.Array(new[] { 0, 2, 2, 2, 1, 0, 1, 1, 2, 0 }, new[] { 5, 2 });
        AssertLoop(a => new[] { Mx.ScatterAdd(a[0], a[1], a[2], 0) }, new[] { x, perElement, Rand(new[] { 2, 5, 7 }, 14) }, new int?[] { 0, 0, 1 }, 0, true);
        AssertLoop(a => new[] { Mx.Scatter(a[0], a[1], a[2], 0) }, new[] { Rand(new[] { 3, 7 }, 15), perElement, Rand(new[] { 2, 7 }, 16) }, new int?[] { null, 0, null }, 0, true);
        var along = Mx.Array(new[] { 0, 2, 1, 1, 0, 2, 2, 1, 0, 1, 0, 2, 0, 1, 2 }, new[] { 5, 3, 1 });
        AssertLoop(a => new[] { Mx.PutAlongAxis(a[0], a[1], a[2], 0) }, new[] { x, along, Rand(new[] { 5, 1, 7 }, 17) }, new int?[] { 0, 0, 0 }, 0, true);
        AssertLoop(a => new[] { Mx.PutAlongAxis(a[0], a[1], 2.0, 1) }, new[] { Rand(new[] { 3, 7 }, 31), along }, new int?[] { null, 0 }, 0, true);
        AssertLoop(a => new[] { Mx.SliceUpdate(a[0], a[1], new[] { 0, 1 }, new[] { 3, 7 }, new[] { 2, 3 }) }, new[] { x, Rand(new[] { 2, 2 }, 18) }, new int?[] { 0, null }, 0, true);
        AssertLoop(a => new[] { Mx.SliceUpdate(a[0], a[1], new[] { 1, 0 }, new[] { 3, 7 }, new[] { 1, 3 }) }, new[] { Rand(new[] { 3, 7 }, 19), Rand(new[] { 2, 5, 3 }, 20) }, new int?[] { null, 1 }, 0, true);
    }

    [Fact]
    public void ConcatenateAndPad()
    {
        var x = Rand(new[] { 5, 3, 7 }, 21);
        var y = Rand(new[] { 3, 2 }, 22);
        AssertLoop(a => new[] { Mx.Concatenate(new[] { a[0], a[1], a[0] }, 1) }, new[] { x, y }, new int?[] { 0, null }, 0, true);
        AssertLoop(a => new[] { Mx.Stack(new[] { a[0], a[1] }, -1) }, new[] { x, Rand(new[] { 3, 7, 5 }, 23) }, new int?[] { 0, 2 }, 1, true);
        AssertLoop(a => new[] { Mx.Pad(a[0], new[] { (1, 2), (0, 3) }, 1.5) }, new[] { x }, new int?[] { 1 }, 2, true);
    }

    [Fact]
    public void Convolution()
    {
        var x = Rand(new[] { 2, 3, 5, 6, 2 }, 24);
        var w = Rand(new[] { 4, 3, 3, 2 }, 25);
        var ws = Rand(new[] { 3, 4, 3, 3, 2 }, 26);
        // Only the input batched: folded into the images.
        AssertLoop(a => new[] { Mx.Conv2d(a[0], a[1], (1, 2), (1, 1)) }, new[] { x, w }, new int?[] { 1, null }, 0, true);
        // Batched weights: groups of channels, with the input batched or shared.
        AssertLoop(a => new[] { Mx.Conv2d(a[0], a[1], (2, 1), (1, 0)) }, new[] { x, ws }, new int?[] { 1, 0 }, 1, true);
        AssertLoop(a => new[] { Mx.Conv2d(a[0], a[1], 1, 1, 2) }, new[] { Rand(new[] { 2, 5, 6, 2 }, 27), ws }, new int?[] { null, 0 }, 0, true);
    }

    [Fact]
    public void ConvolutionGradients()
    {
        var x = Rand(new[] { 3, 2, 6, 6, 2 }, 32);
        var w = Rand(new[] { 4, 3, 3, 2 }, 33);
        var ws = Rand(new[] { 3, 4, 3, 3, 2 }, 34);
        MxArray Loss(MxArray a, MxArray b) => Mx.Sum(Mx.Square(Mx.Conv2d(a, b, (2, 1), (1, 0), (1, 2))));
        // H = 6 under stride 2 leaves a row unread: the transposed convolution's output padding restores it.
        // Per-example weight gradients: input and cotangent batched (a batched matmul of patches).
        AssertLoop(a => new[] { Mx.Grad(v => Loss(a[0], v))(a[1]) }, new[] { x, w }, new int?[] { 0, null }, 0, true);
        // Input gradients, the batch folded into the images.
        AssertLoop(a => new[] { Mx.Grad(v => Loss(v, a[1]))(a[0]) }, new[] { x, w }, new int?[] { 0, null }, 0, true);
        // Batched weights: the cotangent folds into the output channels; with the weight too, a grouped transposed conv.
        var x0 = Rand(new[] { 2, 6, 6, 2 }, 35);
        AssertLoop(a => new[] { Mx.Grad(v => Loss(a[0], v))(a[1]) }, new[] { x0, ws }, new int?[] { null, 0 }, 0, true);
        AssertLoop(a => new[] { Mx.Grad(v => Loss(v, a[1]))(a[0]) }, new[] { x0, ws }, new int?[] { null, 0 }, 0, true);
        // Only the weight (input gradient) or only the input (weight gradient) batched: folded into the input channels.
        var g = Rand(new[] { 2, 3, 2, 4 }, 36);
        MxArray[] Vjps(MxArray a, MxArray b, MxArray c) => Mx.Vjp(p => new[] { Mx.Conv2d(p[0], p[1], (2, 1), (1, 0), (1, 2)) }, new[] { a, b }, new[] { c }).Vjps;
        AssertLoop(a => new[] { Vjps(a[0], a[1], a[2])[0] }, new[] { x0, ws, g }, new int?[] { null, 0, null }, 0, true);
        AssertLoop(a => new[] { Vjps(a[0], a[1], a[2])[1] }, new[] { x, w, g }, new int?[] { 0, null, null }, 0, true);
    }

    [Fact]
    public void RandomDrawsPerKey()
    {
        // Each key of the batch draws its own block: bit-exact with a loop of single-key draws.
        var keys = Mx.Random.Split(Mx.Random.Key(7), 4);
        var perKey = Enumerable.Range(0, 4).Select(b => Mx.Take(keys, Mx.Array(b), 0)).ToArray();
        Func<MxArray, MxArray>[] draws =
        {
            k => Mx.Random.Bits(new[] { 3, 5 }, 1, k),
            k => Mx.Random.Bits(new[] { 7 }, 2, k),
            k => Mx.Random.Uniform(new[] { 2, 3 }, key: k),
            k => Mx.Random.Normal(new[] { 5 }, loc: 1.0, scale: 2.0, key: k),
        };
        foreach (var draw in draws)
        {
            int fallbacks = Mx.VmapLoopFallbacks;
            var batched = Mx.Vmap(draw)(keys);
            Assert.Equal(fallbacks, Mx.VmapLoopFallbacks);
            var loop = Mx.Stack(perKey.Select(draw).ToArray());
            Assert.Equal(loop.Shape, batched.Shape);
            Assert.Equal(Mx.View(loop, DType.UInt8).ToArray<byte>(), Mx.View(batched, DType.UInt8).ToArray<byte>());
        }
        // Nested: keys (2, 2, 2), each inner key its own draw.
        var grid = Mx.Reshape(keys, new[] { 2, 2, 2 });
        var nested = Mx.Vmap(Mx.Vmap(k => Mx.Random.Bits(new[] { 3 }, 4, k)))(grid);
        var expected = Mx.Reshape(Mx.Stack(perKey.Select(k => Mx.Random.Bits(new[] { 3 }, 4, k)).ToArray()), new[] { 2, 2, 3 });
        Assert.Equal(expected.ToArray<uint>(), nested.ToArray<uint>());
    }
}
