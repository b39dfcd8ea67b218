using System.Reflection;

namespace Mlx.Cli;

/// <summary>The 10,000 MNIST digits shipped with the tool (data/mnist), split deterministically into train and test.</summary>
internal sealed class MnistData
{
    public const int TestCount = 2000;

    private MnistData(float[] trainImages, int[] trainLabels, float[] testImages, int[] testLabels)
    {
        (TrainImages, TrainLabels, TestImages, TestLabels) = (trainImages, trainLabels, testImages, testLabels);
    }

    public float[] TrainImages { get; }
    public int[] TrainLabels { get; }
    public float[] TestImages { get; }
    public int[] TestLabels { get; }
    public int TrainCount => TrainLabels.Length;

    /// <summary>Loads the embedded file (or <paramref name="path"/>), scales pixels to [0, 1] and splits with a fixed shuffle.</summary>
    public static MnistData Load(string? path = null)
    {
        string file = path ?? ExtractEmbedded();
        try
        {
            var arrays = Mx.Load(file);
            var images = arrays["images"].ToArray<byte>();
            var labels = arrays["labels"].ToArray<byte>();
            int n = labels.Length;
            if (images.Length != n * 784) throw new InvalidDataException("MNIST images are not 28x28.");
            // The file is sorted by label: shuffle once with a fixed seed (System.Random's seeded sequence is stable).
            var order = Enumerable.Range(0, n).ToArray();
            var rng = new System.Random(12345);
            for (int i = n - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            int trainCount = n - TestCount;
            var trX = new float[trainCount * 784];
            var trY = new int[trainCount];
            var teX = new float[TestCount * 784];
            var teY = new int[TestCount];
            for (int k = 0; k < n; k++)
            {
                int src = order[k];
                var (x, y, row) = k < trainCount ? (trX, trY, k) : (teX, teY, k - trainCount);
                for (int p = 0; p < 784; p++) x[row * 784 + p] = images[src * 784 + p] / 255f;
                y[row] = labels[src];
            }
            return new MnistData(trX, trY, teX, teY);
        }
        finally
        {
            if (path is null) File.Delete(file);
        }
    }

    private static string ExtractEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("mnist.npz")
            ?? throw new InvalidOperationException("The MNIST data is missing from this build.");
        string file = Path.Combine(Path.GetTempPath(), $"mlx-mnist-{Environment.ProcessId}-{Guid.NewGuid():N}.npz");
        using (var output = File.Create(file))
        {
            stream.CopyTo(output);
        }
        return file;
    }
}
