using System.Diagnostics;
using System.Globalization;
using Mlx.Formats;
using Mlx.Nn;
using Mlx.Optimizers;
using NnF = Mlx.Nn.Nn;

namespace Mlx.Cli;

/// <summary>
/// <c>mlx train mnist</c> and <c>mlx eval mnist</c>: the MLX example's MNIST classifier (an MLP, or a small CNN
/// with <c>--model cnn</c>) trained on the digits shipped with the tool.
/// </summary>
internal static class TrainCommand
{
    private sealed record Options(string Model, int Epochs, int BatchSize, double LearningRate, double Momentum, ulong Seed, string OutDir, string? Data, string? Weights, string Device = "cpu", int QuantizeBits = 0, int GroupSize = 64);

    private const string Usage =
        "usage: mlx train mnist [--model mlp|cnn] [--epochs N] [--batch-size N] [--lr X] [--momentum X] [--seed N] [--out DIR] [--data FILE.npz] [--device cpu|gpu]\n" +
        "       mlx eval mnist --weights FILE.safetensors [--model mlp|cnn] [--data FILE.npz] [--device cpu|gpu] [--quantize BITS [--group-size N]]";

    public static int Train(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, train: true);

    public static int Eval(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, train: false);

    private static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool train)
    {
        if (!TryParse(args, train, out var o, out string? error))
        {
            stderr.WriteLine("mlx: " + error);
            stderr.WriteLine(Usage);
            return ExitCodes.Usage;
        }
        try
        {
            if (o!.Device == "gpu")
            {
                // Every op of the run goes to the GPU stream (MLX_GPU=cpu runs it on ILGPU's CPU accelerator).
                Mx.SetDefaultDevice(Device.Gpu);
            }
            var data = MnistData.Load(o.Data);
            return train ? TrainMnist(o, data, stdout, stderr) : EvalMnist(o, data, stdout);
        }
        catch (ModelFormatException e)
        {
            stderr.WriteLine($"mlx: {o!.Weights ?? o.Data}: {e.Message}");
            return ExitCodes.BadFile;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            stderr.WriteLine($"mlx: {e.Message}");
            return ExitCodes.BadFile;
        }
        catch (NotSupportedException e) when (o!.Device == "gpu")
        {
            stderr.WriteLine($"mlx: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    private static bool TryParse(string[] args, bool train, out Options? options, out string? error)
    {
        options = null;
        error = null;
        if (args.Length == 0 || args[0] != "mnist")
        {
            error = "the only data set is 'mnist'";
            return false;
        }
        var o = new Options("mlp", 0, 256, 0.1, -1, 0, "out", null, null);
        bool epochsGiven = false, lrGiven = false;
        for (int i = 1; i < args.Length; i++)
        {
            string Next()
            {
                if (i + 1 >= args.Length) throw new FormatException($"{args[i]} needs a value");
                return args[++i];
            }
            try
            {
                switch (args[i])
                {
                    case "--model": o = o with { Model = Next() }; break;
                    case "--epochs": o = o with { Epochs = int.Parse(Next(), CultureInfo.InvariantCulture) }; epochsGiven = true; break;
                    case "--batch-size": o = o with { BatchSize = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--lr": o = o with { LearningRate = double.Parse(Next(), CultureInfo.InvariantCulture) }; lrGiven = true; break;
                    case "--momentum": o = o with { Momentum = double.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--seed": o = o with { Seed = ulong.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--out": o = o with { OutDir = Next() }; break;
                    case "--data": o = o with { Data = Next() }; break;
                    case "--weights": o = o with { Weights = Next() }; break;
                    case "--device": o = o with { Device = Next() }; break;
                    case "--quantize" when !train: o = o with { QuantizeBits = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    case "--group-size" when !train: o = o with { GroupSize = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                    default: error = $"unknown option '{args[i]}'"; return false;
                }
            }
            catch (FormatException e)
            {
                error = e.Message;
                return false;
            }
        }
        if (o.Device is not ("cpu" or "gpu"))
        {
            error = $"--device must be cpu or gpu, not '{o.Device}'";
            return false;
        }
        if (o.Model is not ("mlp" or "cnn"))
        {
            error = $"--model must be mlp or cnn, not '{o.Model}'";
            return false;
        }
        if (!epochsGiven) o = o with { Epochs = o.Model == "mlp" ? 80 : 8 };
        if (!lrGiven && o.Model == "cnn") o = o with { LearningRate = 0.05 };
        if (o.Momentum < 0) o = o with { Momentum = o.Model == "cnn" ? 0.9 : 0 };
        if (o.Epochs < 1 || o.BatchSize < 1 || o.LearningRate <= 0)
        {
            error = "--epochs, --batch-size and --lr must be positive";
            return false;
        }
        if (!train && o.Weights is null)
        {
            error = "eval needs --weights";
            return false;
        }
        if (o.QuantizeBits is not (0 or 2 or 3 or 4 or 5 or 6 or 8) || o.GroupSize is not (32 or 64 or 128))
        {
            error = "--quantize takes 2, 3, 4, 5, 6 or 8 bits and --group-size 32, 64 or 128";
            return false;
        }
        options = o;
        return true;
    }

    internal static Module BuildModel(string kind) => kind == "cnn"
        ? new Sequential(
            new Conv2d(1, 16, 3, padding: 1), (Func<MxArray, MxArray>)NnF.Relu, new MaxPool2d(2),
            new Conv2d(16, 32, 3, padding: 1), (Func<MxArray, MxArray>)NnF.Relu, new MaxPool2d(2),
            (Func<MxArray, MxArray>)(x => Mx.Reshape(x, new[] { x.Shape[0], -1 })),
            new Linear(7 * 7 * 32, 10))
        : new Sequential(
            new Linear(784, 32), (Func<MxArray, MxArray>)NnF.Relu,
            new Linear(32, 32), (Func<MxArray, MxArray>)NnF.Relu,
            new Linear(32, 10));

    private static MxArray Batch(float[] images, int[] rows, string model)
    {
        var x = new float[rows.Length * 784];
        for (int i = 0; i < rows.Length; i++) Array.Copy(images, rows[i] * 784, x, i * 784, 784);
        return model == "cnn" ? Mx.Array(x, new[] { rows.Length, 28, 28, 1 }) : Mx.Array(x, new[] { rows.Length, 784 });
    }

    internal static double Accuracy(Module model, float[] images, int[] labels, string kind)
    {
        int correct = 0;
        for (int start = 0; start < labels.Length; start += 1000)
        {
            var rows = Enumerable.Range(start, Math.Min(1000, labels.Length - start)).ToArray();
            using var scope = Mx.NewDisposeScope();
            var predicted = Mx.ArgMax(model.Forward(Batch(images, rows, kind)), -1).ToArray<uint>();
            for (int i = 0; i < rows.Length; i++) if (predicted[i] == labels[rows[i]]) correct++;
        }
        return (double)correct / labels.Length;
    }

    private static int TrainMnist(Options o, MnistData data, TextWriter stdout, TextWriter stderr)
    {
        Mx.Random.Seed(o.Seed);
        var model = BuildModel(o.Model);
        Mx.Eval(model.Parameters().Values);
        var optimizer = new SGD(o.LearningRate, momentum: o.Momentum);
        var lossAndGrad = NnF.ValueAndGrad(model, a => NnF.CrossEntropy(model.Forward(a[0]), a[1], reduction: "mean"));
        var losses = new List<double>();
        var accuracies = new List<double>();
        var shuffle = new System.Random((int)(o.Seed % int.MaxValue));
        int n = data.TrainCount;
        int batches = (n + o.BatchSize - 1) / o.BatchSize;
        stdout.WriteLine($"Training a {o.Model.ToUpperInvariant()} on {n} MNIST digits ({data.TestLabels.Length} held out), batch {o.BatchSize}, SGD lr {o.LearningRate.ToString(CultureInfo.InvariantCulture)}{(o.Momentum > 0 ? " momentum " + o.Momentum.ToString(CultureInfo.InvariantCulture) : "")}, {o.Epochs} epochs");
        var total = Stopwatch.StartNew();
        for (int epoch = 1; epoch <= o.Epochs; epoch++)
        {
            var timer = Stopwatch.StartNew();
            var order = Enumerable.Range(0, n).ToArray();
            for (int i = n - 1; i > 0; i--)
            {
                int j = shuffle.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            double lossSum = 0;
            for (int b = 0; b < batches; b++)
            {
                var rows = order.Skip(b * o.BatchSize).Take(o.BatchSize).ToArray();
                // The step's arrays (batch, activations, gradients) go back to the cache when it ends.
                using var scope = Mx.NewDisposeScope();
                var x = Batch(data.TrainImages, rows, o.Model);
                var y = Mx.Array(rows.Select(r => data.TrainLabels[r]).ToArray());
                var (loss, grads) = lossAndGrad(new[] { x, y });
                optimizer.Update(model, grads);
                Mx.Eval(model.Parameters().Values.Append(loss));
                lossSum += loss.Item<float>();
                Progress(stderr, epoch, b + 1, batches);
            }
            double accuracy = Accuracy(model, data.TestImages, data.TestLabels, o.Model);
            losses.Add(lossSum / batches);
            accuracies.Add(accuracy);
            stderr.Write('\r' + new string(' ', 60) + '\r');
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Epoch {epoch,2}: train loss {lossSum / batches:F4}, test accuracy {accuracy:P2}, time {timer.Elapsed.TotalSeconds:F2} s"));
        }
        Directory.CreateDirectory(o.OutDir);
        string weights = Path.Combine(o.OutDir, $"mnist_{o.Model}.safetensors");
        string plot = Path.Combine(o.OutDir, $"mnist_{o.Model}.png");
        model.SaveWeights(weights);
        DrawPlot(losses, accuracies, plot);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Done in {total.Elapsed.TotalSeconds:F1} s: final test accuracy {accuracies[^1]:P2}. Weights: {weights}. Plot: {plot}"));
        return ExitCodes.Ok;
    }

    private static int EvalMnist(Options o, MnistData data, TextWriter stdout)
    {
        var model = BuildModel(o.Model);
        model.LoadWeights(o.Weights!, strict: true);
        string how = "";
        if (o.QuantizeBits > 0)
        {
            // Linear layers whose input width splits into whole groups (the MLP's 784-wide first layer does not).
            int quantized = 0, linear = 0;
            NnF.Quantize(model, o.GroupSize, o.QuantizeBits, predicate: (_, m) =>
            {
                if (m is not Linear l) return false;
                linear++;
                bool fits = l.Parameters()["weight"].Shape[^1] % o.GroupSize == 0;
                if (fits) quantized++;
                return fits;
            });
            how = string.Create(CultureInfo.InvariantCulture, $", {quantized} of {linear} linear layers at {o.QuantizeBits} bits in groups of {o.GroupSize}");
        }
        double accuracy = Accuracy(model, data.TestImages, data.TestLabels, o.Model);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Test accuracy {accuracy:P2} on {data.TestLabels.Length} held-out digits ({o.Weights}{how})"));
        return ExitCodes.Ok;
    }

    private static void Progress(TextWriter w, int epoch, int done, int total)
    {
        const int width = 30;
        int filled = done * width / total;
        w.Write($"\rEpoch {epoch,2} [{new string('#', filled)}{new string('.', width - filled)}] {done}/{total}");
    }

    private static void DrawPlot(List<double> losses, List<double> accuracies, string path)
    {
        // Left panel: training loss (blue); right panel: test accuracy in [0, 1] (red).
        var plot = new Plot(720, 320);
        plot.Series(losses, 40, 20, 300, 260, 0, Math.Max(losses.Max(), 1e-9), (30, 90, 200));
        plot.Series(accuracies, 400, 20, 300, 260, 0, 1, (200, 40, 40));
        plot.SavePng(path);
    }
}
