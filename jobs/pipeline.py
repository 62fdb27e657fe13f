"""spark-submit entry point: parse arguments, run stages through the library.

    spark-submit --master spark://HOST:7077 jobs/pipeline.py --config pipeline.yaml --stage ingest
    spark-submit jobs/pipeline.py --config pipeline.yaml            # every stage, in order

Under spark-submit the engine is the JVM session spark-submit started (engine.kind=spark).
The tokenlake wheel must be installed in the driver's and executors' Python (PYSPARK_PYTHON).
"""
import sys

from tokenlake.entrypoints import main

if __name__ == "__main__":
    sys.exit(main())
