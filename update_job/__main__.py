from update_job.cli import main

main()
