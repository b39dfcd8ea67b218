namespace Mlx.Core.Tests;

/// <summary>The lazy graph: evaluation order, shared nodes, deep graphs, AsyncEval, StopGradient, streams.</summary>
public class EvalTests
{
    [Fact]
    public void NothingIsComputedUntilEval()
    {
        var a = Mx.Array(new[] { 1f, 2f });
        var b = Mx.Exp(a) + 1;
        Assert.False(b.IsEvaluated);
        Mx.Eval(b);
        Assert.True(b.IsEvaluated);
        Assert.Equal(b.ToArray<float>(), b.ToArray<float>());
    }

    [Fact]
    public void SharedSubexpressionsAndReuseAfterEval()
    {
        var x = Mx.Array(new[] { 1, 2, 3 });
        var s = x * 2;
        var p = s + 1;
        var q = s * s;
        Mx.Eval(p);
        Assert.Equal(new[] { 3, 5, 7 }, p.ToArray<int>());
        Assert.Equal(new[] { 4, 16, 36 }, q.ToArray<int>());
        Assert.Equal(new[] { 2, 4, 6 }, s.ToArray<int>());
        var again = p + q;
        Assert.Equal(new[] { 7, 21, 43 }, again.ToArray<int>());
        Mx.Eval(new List<MxArray> { p, q, again });
    }

    [Fact]
    public void DeepChainsDoNotOverflowTheStack()
    {
        var x = Mx.Array(0);
        for (int i = 0; i < 50_000; i++)
        {
            x = x + 1;
        }
        Assert.Equal(50_000, x.Item<int>());
    }

    [Fact]
    public async Task AsyncEvalThenRead()
    {
        var a = Mx.Sum(Mx.Arange(0, 1000));
        var t = Mx.AsyncEval(a);
        await t;
        Mx.Synchronize();
        Assert.Equal(499500, a.Item<int>());
    }

    [Fact]
    public void StopGradientIsTheIdentityOnValues()
    {
        var a = Mx.Array(new[] { 1.5f, -2f });
        Assert.Equal(new[] { 1.5f, -2f }, Mx.StopGradient(a).ToArray<float>());
        Assert.Equal(new[] { 2f, 1f }, Mx.StopGradient(Mx.Array(new[] { 1f, 2f })[Idx.Slice(null, null, -1)]).ToArray<float>());
    }

    [Fact]
    public void StreamsOnTheCpu()
    {
        var s = Mx.NewStream(Device.Cpu);
        Assert.Equal(Device.Cpu, s.Device);
        Assert.Equal(5, Mx.Add(Mx.Array(2), Mx.Array(3), s).Item<int>());
        Assert.Throws<NotSupportedException>(() => Mx.NewStream(Device.Gpu));
        Assert.Equal("Device(cpu, 0)", Device.Cpu.ToString());
    }

    [Fact]
    public void AFailedEvalLeavesTheRestOfTheGraphUsable()
    {
        var a = Mx.Array(new[] { 1, 2, 3 });
        var s = a * 10;
        var bad = Mx.Take(s, Mx.Array(new[] { 7 }), 0);
        var good = s + 1;
        Assert.Throws<IndexOutOfRangeException>(() => Mx.Eval(bad, good));
        Assert.Equal(new[] { 10, 20, 30 }, s.ToArray<int>());
        Assert.Equal(new[] { 11, 21, 31 }, good.ToArray<int>());
        Assert.Throws<IndexOutOfRangeException>(() => bad.ToArray<int>());
    }
}
