using Mlx.Nn;
using Mlx.Optimizers;

namespace Mlx.Backends.Tests;

/// <summary>
/// A whole training loop on the GPU stream (forward, gradients, optimizer) follows the CPU's step for step. It seeds the
/// global random state, so it runs alone: no other test draws from it in between.
/// </summary>
[Collection(nameof(SerialCollection))]
public sealed class TrainingTests
{
    private static (double[] Losses, float[] Weights) Train(Device device, DType dtype, string optimizerName, bool scoped = false)
    {
        Mx.Random.Seed(7);
        var model = new Sequential(new Linear(12, 16), new ReLU(), new Linear(16, 16), new GELU(), new Linear(16, 5));
        model.SetDType(dtype);
        var x = Mx.AsType(Mx.Random.Normal(new[] { 33, 12 }, key: Mx.Random.Key(1)), dtype);
        var y = Mx.Random.Randint(0, 5, new[] { 33 }, key: Mx.Random.Key(2));
        Optimizer optimizer = optimizerName == "adam" ? new Adam(0.01) : new SGD(0.1);
        var losses = new List<double>();
        using (Mx.StreamScope(device))
        {
            var step = Nn.Nn.ValueAndGrad(model, a => Nn.Nn.CrossEntropy(model.Forward(a[0]), a[1], reduction: "mean"));
            for (int i = 0; i < 6; i++)
            {
                // Each step's arrays (device memory included) freed as soon as the step no longer needs them.
                using var scope = scoped ? Mx.NewDisposeScope() : null;
                var (loss, grads) = step(new[] { x, y });
                optimizer.Update(model, grads);
                Mx.Eval(model.Parameters().Values.Append(loss));
                losses.Add(loss.AsType(DType.Float64).Item<double>());
            }
        }
        return (losses.ToArray(), model.Parameters()["layers.0.weight"].AsType(DType.Float32).ToArray<float>());
    }

    [Theory]
    [InlineData(DType.Float32, 1e-5, "adam")]
    [InlineData(DType.Float32, 1e-5, "sgd")]
    [InlineData(DType.Float64, 1e-12, "sgd")]
    [InlineData(DType.BFloat16, 2e-2, "adam")]
    public void MlpTrainingOnTheGpuFollowsTheCpu(DType dtype, double tol, string optimizer)
    {
        var (cpuLosses, cpuWeights) = Train(Device.Cpu, dtype, optimizer);
        var (gpuLosses, gpuWeights) = Train(Backends.Gpu, dtype, optimizer);
        Assert.True(cpuLosses[^1] < cpuLosses[0], "the loss falls");
        H.Close(cpuLosses, gpuLosses, tol, tol, "losses");
        H.Close(cpuWeights.Select(v => (double)v).ToArray(), gpuWeights.Select(v => (double)v).ToArray(), tol * 10, tol * 10, "first layer");
    }

    [Theory]
    [InlineData("adam")]
    [InlineData("sgd")]
    public void MlpTrainingInDisposeScopesOnTheGpuFollowsTheCpu(string optimizer)
    {
        var (cpuLosses, cpuWeights) = Train(Device.Cpu, DType.Float32, optimizer);
        var (gpuLosses, gpuWeights) = Train(Backends.Gpu, DType.Float32, optimizer, scoped: true);
        H.Close(cpuLosses, gpuLosses, 1e-5, 1e-5, "losses");
        H.Close(cpuWeights.Select(v => (double)v).ToArray(), gpuWeights.Select(v => (double)v).ToArray(), 1e-4, 1e-4, "first layer");
    }
}
