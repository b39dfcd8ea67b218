using Mlx.Nn;
using Mlx.Optimizers;
using NnF = Mlx.Nn.Nn;

namespace Mlx.Core.Tests;

/// <summary>
/// Disposing arrays and dispose scopes: memory comes back as soon as nothing can read it (as Python's reference
/// counting frees MLX arrays), never earlier, and results are the same as without disposing.
/// </summary>
[Collection("Memory")]
public class DisposeTests
{
    private const int N = 1 << 18; // 1 MB of float32
    private const long Bytes = N * 4L;

    private static long SettledActive()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Mx.Memory.ActiveBytes;
    }

    private static MxArray Evaluated(int seed)
    {
        var x = Mx.Array(H.RandF(N, seed));
        Mx.Eval(x);
        return x;
    }

    [Fact]
    public void DisposingAnEvaluatedArrayFreesItsMemoryAtOnce()
    {
        var x = Evaluated(1);
        long before = SettledActive();
        x.Dispose();
        Assert.True(before - Mx.Memory.ActiveBytes >= Bytes, $"freed {before - Mx.Memory.ActiveBytes:N0} bytes");
        x.Dispose(); // a second dispose does nothing
        Assert.Throws<ObjectDisposedException>(() => x.ToArray<float>());
        Assert.Throws<ObjectDisposedException>(() => Mx.Add(x, 1f));
        Assert.False(x.IsEvaluated);
    }

    [Fact]
    public void AViewKeepsTheSharedBufferUntilItIsDisposedToo()
    {
        var x = Evaluated(2);
        var values = x.ToArray<float>();
        var view = x[Idx.Slice(null, null, 2)];
        Mx.Eval(view);
        long before = SettledActive();
        x.Dispose();
        Assert.Equal(before, Mx.Memory.ActiveBytes);
        Assert.Equal(values.Where((_, i) => i % 2 == 0), view.ToArray<float>());
        view.Dispose();
        Assert.True(before - Mx.Memory.ActiveBytes >= Bytes);
    }

    [Theory]
    [InlineData("cumsum axis 0")]
    [InlineData("cumsum axis 1")]
    [InlineData("sort axis 0")]
    [InlineData("argsort axis 1")]
    [InlineData("sum axis 0 of float16")]
    [InlineData("exp")]
    public void OutputsMadeFromAKernelsScratchAreFreedOnDispose(string op)
    {
        var x = Mx.Reshape(Evaluated(7), new[] { 512, 512 });
        var y = op switch
        {
            "cumsum axis 0" => Mx.Cumsum(x, 0),
            "cumsum axis 1" => Mx.Cumsum(x, 1),
            "sort axis 0" => Mx.Sort(x, 0),
            "argsort axis 1" => Mx.ArgSort(x, 1),
            "sum axis 0 of float16" => Mx.Sum(Mx.BroadcastTo(Mx.AsType(x, DType.Float16), new[] { 2, 512, 512 }), 0),
            _ => Mx.Exp(x),
        };
        Mx.Eval(y);
        long before = SettledActive();
        long bytes = y.NBytes;
        y.Dispose();
        Assert.True(before - Mx.Memory.ActiveBytes >= bytes, $"freed {before - Mx.Memory.ActiveBytes:N0} of {bytes:N0} bytes");
    }

    [Fact]
    public void ReductionsDisposeOnlyTheirOwnIntermediates()
    {
        var x = Mx.Array(new[] { 1f, 2f, 3f, 4f }, new[] { 2, 2 });
        // Nothing to reduce: the op returns (a view of) its operand, which must stay the caller's.
        var same = Mx.Mean(x, System.Array.Empty<int>());
        Mx.Eval(same);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, x.ToArray<float>());
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, same.ToArray<float>());
        var ints = Mx.Array(new[] { 1, 2, 3, 4 }, new[] { 2, 2 });
        Assert.Equal(new[] { 1.5f, 3.5f }, Mx.Mean(ints, 1).ToArray<float>());
        Assert.Equal(new[] { 2f, 3f }, Mx.Mean(ints, new[] { 0 }).ToArray<float>());
        Assert.Equal(new[] { 1, 2, 3, 4 }, Mx.Sum(ints, System.Array.Empty<int>()).ToArray<int>());
        Assert.Equal(new[] { 1, 2, 3, 4 }, ints.ToArray<int>());
    }

    [Fact]
    public void ADisposedInputOfAPendingOpIsFreedOnceTheOpHasRun()
    {
        var x = Evaluated(3);
        var values = x.ToArray<float>();
        var y = Mx.Exp(x);
        x.Dispose();
        long before = SettledActive();
        Assert.Equal(before, Mx.Memory.ActiveBytes); // the pending exp still needs x
        Mx.Eval(y);
        // y took 1 MB and x's 1 MB came back.
        Assert.True(Mx.Memory.ActiveBytes - before <= 0, $"active memory grew by {Mx.Memory.ActiveBytes - before:N0} bytes");
        H.Close(values.Select(v => (double)MathF.Exp(v)).ToArray(), y.ToArray<float>().Select(v => (double)v).ToArray());
        Assert.Throws<ObjectDisposedException>(() => Mx.Multiply(x, y));
    }

    [Fact]
    public void AGraphNobodyCanReadAnyMoreLetsGoOfItsInputs()
    {
        var x = Evaluated(4);
        var e = Mx.Exp(x);
        var y = Mx.Sin(e);
        long before = SettledActive();
        x.Dispose();
        e.Dispose();
        Assert.Equal(before, Mx.Memory.ActiveBytes);
        y.Dispose(); // sin(exp(x)) will never run: exp lets go of x, and x is free
        Assert.True(before - Mx.Memory.ActiveBytes >= Bytes);
        Assert.Throws<ObjectDisposedException>(() => Mx.Eval(y, Mx.Add(y, 1f)));
    }

    [Fact]
    public void ASiblingOutputDisposedBeforeEvaluationIsDroppedAndTheOtherIsRight()
    {
        var a = Mx.Array(new[] { 7, -7, 9, 10 });
        var b = Mx.Array(new[] { 2, 2, -4, 5 });
        var (q, r) = Mx.DivMod(a, b);
        r.Dispose();
        Mx.Eval(q);
        Assert.Equal(new[] { 3, -4, -3, 2 }, q.ToArray<int>()); // floor division, as NumPy
        Assert.False(r.IsEvaluated);
    }

    [Fact]
    public void AScopeDisposesWhatWasMadeInItExceptWhatMovesOut()
    {
        var outside = Evaluated(5);
        MxArray kept, inner, dropped, movedTwice;
        using (var outer = Mx.NewDisposeScope())
        {
            using (var scope = Mx.NewDisposeScope())
            {
                dropped = Mx.Exp(outside);
                kept = Mx.Sin(outside);
                movedTwice = Mx.Cos(outside);
                inner = Mx.Add(dropped, kept);
                Assert.Equal(4, scope.Count);
                scope.MoveToOuter(kept, movedTwice);
                Mx.Eval(inner, kept, movedTwice);
                Assert.Equal(2, scope.Count);
            }
            Assert.Throws<ObjectDisposedException>(() => dropped.ToArray<float>());
            Assert.Throws<ObjectDisposedException>(() => inner.ToArray<float>());
            Assert.Equal(2, outer.Count);
            outer.MoveToOuter(movedTwice);
            var xs = outside.ToArray<float>();
            H.Close(xs.Select(v => (double)MathF.Sin(v)).ToArray(), kept.ToArray<float>().Select(v => (double)v).ToArray());
        }
        Assert.Throws<ObjectDisposedException>(() => kept.ToArray<float>());
        Assert.Equal(Bytes, movedTwice.NBytes);
        Assert.Equal(N, movedTwice.ToArray<float>().Length); // no scope is left to dispose it
        Assert.Equal(N, outside.ToArray<float>().Length);     // made before the scopes: theirs to keep
    }

    [Fact]
    public async Task DetachedArraysAndArraysMadeOnOtherThreadsOutliveTheScope()
    {
        MxArray detached, fromThread = null!;
        using (Mx.NewDisposeScope())
        {
            detached = Mx.Arange(5);
            DisposeScope.Detach(detached);
            var thread = new Thread(() => fromThread = Mx.Arange(3));
            thread.Start();
            thread.Join();
        }
        await Task.Yield();
        var fromTask = fromThread;
        Assert.Equal(new[] { 0, 1, 2, 3, 4 }, detached.ToArray<int>());
        Assert.Equal(new[] { 0, 1, 2 }, fromTask.ToArray<int>());
    }

    [Fact]
    public void ScopesMustEndInReverseOrder()
    {
        var outer = Mx.NewDisposeScope();
        var inner = Mx.NewDisposeScope();
        Assert.Throws<InvalidOperationException>(() => outer.Dispose());
        inner.Dispose();
        outer.Dispose();
    }

    private static (float[] Losses, Sequential Model, Adam Opt) Train(bool scoped, int steps, List<long>? active = null)
    {
        Mx.Random.Seed(11);
        var model = new Sequential(new Linear(64, 64), (Func<MxArray, MxArray>)NnF.Relu, new Linear(64, 8));
        Mx.Eval(model.Parameters().Values);
        var opt = new Adam(1e-2);
        var lossAndGrad = NnF.ValueAndGrad(model, p => NnF.CrossEntropy(model.Forward(p[0]), p[1], reduction: "mean"));
        var x = Mx.Array(H.RandF(512 * 64, 12), new[] { 512, 64 });
        var y = Mx.Array(Enumerable.Range(0, 512).Select(i => i * 7 % 8).ToArray());
        var losses = new float[steps];
        for (int s = 0; s < steps; s++)
        {
            using var scope = scoped ? Mx.NewDisposeScope() : null;
            var (loss, grads) = lossAndGrad(new[] { x, y });
            opt.Update(model, grads);
            Mx.Eval(model.Parameters().Values.Concat(opt.State.Values.SelectMany(d => d.Values)).Append(loss));
            losses[s] = loss.Item<float>();
            active?.Add(Mx.Memory.ActiveBytes);
        }
        return (losses, model, opt);
    }

    [Fact]
    public void TrainingStepsInScopesGiveTheSameLossesAndKeepParametersAndOptimizerState()
    {
        var (plain, plainModel, _) = Train(scoped: false, steps: 12);
        var (scoped, model, opt) = Train(scoped: true, steps: 12);
        Assert.Equal(plain, scoped);
        Assert.True(scoped[^1] < scoped[0]);
        foreach (var (name, p) in plainModel.Parameters())
        {
            Assert.Equal(p.ToArray<float>(), model.Parameters()[name].ToArray<float>());
        }
        Assert.All(opt.State.Values.SelectMany(d => d.Values), s => Assert.True(s.ToArray<float>().Length > 0));
    }

    [Fact]
    public void TrainingStepsInScopesLeaveOnlyReplacedParametersAndStateToTheCollector()
    {
        SettledActive();
        var active = new List<long>();
        var (_, model, _) = Train(scoped: true, steps: 12, active);
        long paramBytes = model.Parameters().Values.Sum(p => p.NBytes);
        // Each step replaces the parameters and Adam's two moments (the old ones wait for the GC: someone may hold
        // them); the step's activations and gradients (512 x 64 floats each, several times the parameters) are freed.
        long perStep = (active[^1] - active[1]) / (active.Count - 2);
        Assert.True(perStep <= 3 * paramBytes + 4096, $"active memory grew {perStep:N0} bytes per step; parameters take {paramBytes:N0}");
    }

    [Fact]
    public void TheBackwardPassFreesItsOwnIntermediatesWithoutAnyScope()
    {
        var x = Evaluated(6);
        var vg = Mx.ValueAndGrad((MxArray a) => Mx.Sum(Mx.Multiply(Mx.Exp(a), Mx.Sin(a))));
        long before = SettledActive();
        var (value, grad) = vg(x);
        Mx.Eval(value, grad);
        long grown = Mx.Memory.ActiveBytes - before;
        // Kept: exp(x), sin(x), their product (the function's own arrays, still referenced) and the gradient. The
        // backward pass's five 1 MB arrays (two products by the cotangent, cos(x), two products by the local
        // derivatives) are freed as soon as their readers have run.
        Assert.True(grown <= 4 * Bytes + 4096, $"active memory grew by {grown:N0} bytes");
        var xs = x.ToArray<float>();
        H.Close(xs.Select(v => Math.Exp(v) * (Math.Sin(v) + Math.Cos(v))).ToArray(), grad.ToArray<float>().Select(v => (double)v).ToArray(), rtol: 1e-5, atol: 1e-5);
    }

    [Fact]
    public void ACompiledFunctionTracedInsideAScopeWorksAfterIt()
    {
        Func<MxArray, MxArray> compiled;
        var x = Mx.Array(new[] { 1f, 2f, 3f });
        using (Mx.NewDisposeScope())
        {
            compiled = Mx.Compile((MxArray a) => Mx.Add(Mx.Multiply(a, Mx.Array(new[] { 2f, 3f, 4f })), 1f));
            Assert.Equal(new[] { 3f, 7f, 13f }, compiled(x).ToArray<float>());
        }
        Assert.Equal(new[] { 3f, 7f, 13f }, compiled(x).ToArray<float>());
        using (Mx.NewDisposeScope())
        {
            Assert.Equal(new[] { 5f, 10f, 17f }, compiled(Mx.Array(new[] { 2f, 3f, 4f })).ToArray<float>());
        }
    }
}
