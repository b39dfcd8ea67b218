namespace Mlx.Core.Tests;

/// <summary>mx.depends: the inputs again, with their dependencies evaluated first; gradients to the inputs only.</summary>
public class DependsTests
{
    [Fact]
    public void EvaluatingTheOutputsEvaluatesTheDependencies()
    {
        var x = Mx.Array(new[] { 1f, 2f, 3f });
        var dep = Mx.Exp(Mx.Array(new[] { 0f, 1f }));
        var y = Mx.Multiply(x, 2.0);
        var outs = Mx.Depends(new[] { y, x }, new[] { dep });
        Assert.False(dep.IsEvaluated);
        Assert.Equal(new[] { 2f, 4f, 6f }, outs[0].ToArray<float>());
        Assert.True(dep.IsEvaluated);
        Assert.Equal(x.ToArray<float>(), outs[1].ToArray<float>());
        Assert.Empty(Mx.Depends(System.Array.Empty<MxArray>(), new[] { dep }));
    }

    [Fact]
    public void GradientsJvpAndVmapPassThroughTheInputs()
    {
        var x = Mx.Array(H.RandF(4, 1));
        var d = Mx.Array(H.RandF(3, 2));
        var grads = Mx.Grad(a => Mx.Sum(Mx.Multiply(Mx.Depends(new[] { a[0] }, new[] { a[1] })[0], 3.0)), new[] { 0, 1 })(new[] { x, d });
        Assert.Equal(new[] { 3f, 3f, 3f, 3f }, grads[0].ToArray<float>());
        Assert.Equal(new float[3], grads[1].ToArray<float>());
        var t = Mx.Array(H.RandF(4, 3));
        var (_, jv) = Mx.Jvp(a => Mx.Depends(new[] { Mx.Square(a[0]) }, new[] { a[1] }), new[] { x, d }, new[] { t, Mx.OnesLike(d) });
        H.Close(Mx.Multiply(Mx.Multiply(x, t), 2.0).ToArray<float>(), jv[0], 1e-6, 1e-6);
        var xs = Mx.Array(H.RandF(2 * 4, 4), new[] { 2, 4 });
        var mapped = Mx.Vmap(a => Mx.Depends(new[] { Mx.Negative(a) }, new[] { d })[0])(xs);
        Assert.Equal(Mx.Negative(xs).ToArray<float>(), mapped.ToArray<float>());
    }
}
